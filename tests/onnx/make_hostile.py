#!/usr/bin/python3
"""Writes hostile / unsupported ONNX models into OUTDIR, one per case, named
CASE.onnx; tests/cli_onnx.sh expects `minnow import` to refuse each with one
clear line.  Exit 77 if the onnx package is missing."""
import sys

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    sys.exit(77)

out = sys.argv[1]


def inp(shape=("N", 784)):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))


def outp(name="y"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 10])


def save(name, nodes, inits, inputs=None, outputs=None, raw=None):
    g = helper.make_graph(nodes, name, inputs or [inp()], outputs or [outp()], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    data = m.SerializeToString() if raw is None else raw(m.SerializeToString())
    with open(f"{out}/{name}.onnx", "wb") as f:
        f.write(data)


w = numpy_helper.from_array(np.ones((10, 784), np.float32), "w")
b = numpy_helper.from_array(np.zeros(10, np.float32), "b")
gemm = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)

# missing initializer: the weight named by Gemm is not there
save("missing_init", [gemm], [b])
# a cycle: two nodes feeding each other
save("cycle", [helper.make_node("Relu", ["t2"], ["t1"], name="r1"), helper.make_node("Relu", ["t1"], ["t2"], name="r2"),
               helper.make_node("Gemm", ["t2", "w", "b"], ["y"], name="fc", transB=1)], [w, b])
# huge dims: a weight claiming 2^40 elements with 4 bytes of data


def raw_tensor(name, dims, data, dtype=TensorProto.FLOAT):
    t = TensorProto()
    t.name, t.data_type, t.raw_data = name, dtype, data
    t.dims.extend(dims)
    return t


big = raw_tensor("w", [1 << 20, 1 << 20], b"\0\0\0\0")
save("huge_dims", [gemm], [big, b])
# raw_data shorter than the dims need
short = raw_tensor("w", [10, 784], b"\0" * 100)
save("short_data", [gemm], [short, b])
# wrong element type: int32 weights
save("wrong_type", [gemm], [numpy_helper.from_array(np.ones((10, 784), np.int32), "w"), b])
# an op minnow does not have
save("unsupported_op", [helper.make_node("LSTM", ["x", "w", "b"], ["y"], name="my_lstm")], [w, b])
# asymmetric conv pads
cw = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "cw")
save("asym_pads", [helper.make_node("Conv", ["x", "cw"], ["c"], name="conv", pads=[0, 0, 1, 1]),
                   helper.make_node("Flatten", ["c"], ["f"], name="fl"),
                   helper.make_node("Gemm", ["f", "w2", "b"], ["y"], name="fc", transB=1)],
     [cw, numpy_helper.from_array(np.ones((10, 4 * 28 * 28), np.float32), "w2"), b], inputs=[inp(("N", 1, 28, 28))])
# shapes that do not fit: the weight expects 100 inputs
save("shape_mismatch", [gemm], [numpy_helper.from_array(np.ones((10, 100), np.float32), "w"), b])
# truncated file
save("truncated", [gemm], [w, b], raw=lambda d: d[: len(d) // 2])
# not protobuf at all
with open(f"{out}/garbage.onnx", "wb") as f:
    f.write(b"\xff" * 64)
# an output nothing computes
save("no_output", [gemm], [w, b], outputs=[outp("z")])
# a huge input
save("huge_input", [gemm], [w, b], inputs=[inp(("N", 1 << 30))])


# 200000 nested graph -> node -> attribute -> graph messages: a stack overflow
# in a recursive parser without a depth limit
def varint(n):
    b = bytearray()
    while True:
        c, n = n & 0x7F, n >> 7
        b.append(c | 0x80 if n else c)
        if not n:
            return bytes(b)


def hdr(field, n):
    return varint((field << 3) | 2) + varint(n)


size, heads = 0, []
for _ in range(200000):
    h6 = hdr(6, size)
    h5 = hdr(5, len(h6) + size)
    h1 = hdr(1, len(h5) + len(h6) + size)
    heads.append(h1 + h5 + h6)
    size += len(h1) + len(h5) + len(h6)
body = b"".join(reversed(heads))
with open(f"{out}/deep_nesting.onnx", "wb") as f:
    f.write(hdr(7, len(body)) + body)
