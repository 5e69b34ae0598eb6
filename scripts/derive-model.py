"""Derives the embedding model usher runs from the pinned all-MiniLM-L6-v2 int8 export.

The export stores int8 weights that ONNX Runtime turns back into floats when it loads the
model, so every matrix product runs in fp32. This script makes the products by a weight run in
int8 (VNNI on x86), with each *row* of the activations (one token) quantized on its own:

1. ONNX Runtime's basic (hardware-independent) graph optimizations fold the export's
   int8 -> float weight conversion into plain float initializers.
2. Every MatMul by a constant 2-D weight becomes
       q = QuantizeLinear(x * 127 / max|row|, 1, 128)            (uint8, one scale per token)
       y = MatMulIntegerToFloat(q, Wq, 1, w_scale, 128) * max|row| / 127
   with Wq the weight in int8, one scale per output column. Products that share an input
   (a layer's query, key and value projections) become one product and a Split.

Why per token: ONNX Runtime's own dynamic quantization picks one activation scale for the whole
batch, so a text's vector would depend on the texts it is embedded with (cosine down to 0.989
in a measured batch), and usher's query cache and its tests rightly require the same vector
for the same text. Static quantization (fixed calibrated scales) keeps vectors batch-invariant
but moves them too far (mean cosine to the float model 0.937; 0.995 only when the
feed-forward output products stay in fp32, which leaves little speed).

Measured (2 cores with AVX-512 VNNI): mean cosine to the float model 0.998 (min 0.996 on real
text; the check below requires 0.99), a batch of five 32-token queries 13 ms instead of 21 ms.
On x86 without VNNI, ONNX Runtime's u8 x s8 kernel adds pairs of products in 16 bits, which
can saturate: vectors move a little further (emulated: mean cosine 0.997 instead of 0.998 on
real text). ONNX Runtime's `session.x64quantprecision` avoids that, but it made a batch 1.8x
slower on a VNNI machine (28 ms instead of 16), so usher does not set it. The derivation is deterministic for the
pinned versions (scripts/model-requirements.txt); scripts/setup-model.sh checks the result's
sha256, and this script checks the derived model against the source before writing it.

Usage: python derive-model.py SOURCE.onnx OUT.onnx
"""

import os
import shutil
import sys
import tempfile


def fold_weights(ort, source, folded):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = folded
    options.intra_op_num_threads = 1
    ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def quantize_rows(model, np, helper, numpy_helper):
    """Rewrites `model` in place; returns (products rewritten, inputs quantized)."""
    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:
        sys.exit(f"derive-model: opset {opset}; Split with sizes as an input needs 13 or later")
    # A weight that is also a graph input can be overridden at run time: not a constant.
    inputs = {i.name for i in graph.input}
    weights = {i.name: i for i in graph.initializer if i.name not in inputs}
    added = []

    def const(name, value):
        added.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    c127 = const("usher_rq_127", np.array(127.0, np.float32))
    eps = const("usher_rq_eps", np.array(1e-8, np.float32))
    one = const("usher_rq_one", np.array(1.0, np.float32))
    zero_point = const("usher_rq_zero_point", np.array(128, np.uint8))
    axes = const("usher_rq_axes", np.array([-1], np.int64))

    def is_product(node):
        return (
            node.op_type == "MatMul"
            and node.input[1] in weights
            and len(weights[node.input[1]].dims) == 2
        )

    groups = {}
    for node in graph.node:
        if is_product(node):
            groups.setdefault(node.input[0], []).append(node)

    quantized = {}  # input name -> (uint8 tensor, per-row scale)
    nodes = []

    def add(op, inputs, output, domain=None, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    def quantize(x):
        if x in quantized:
            return quantized[x]
        p = f"usher_rq{len(quantized)}_"
        a = add("Abs", [x], p + "abs")
        if opset >= 18:
            m = add("ReduceMax", [a, axes], p + "max", keepdims=1)
        else:
            m = add("ReduceMax", [a], p + "max", axes=[-1], keepdims=1)
        m = add("Max", [m, eps], p + "max_eps")
        inverse = add("Div", [c127, m], p + "inverse")
        scale = add("Div", [m, c127], p + "scale")
        scaled = add("Mul", [x, inverse], p + "scaled")
        q = add("QuantizeLinear", [scaled, one, zero_point], p + "q")
        quantized[x] = (q, scale)
        return quantized[x]

    products = 0
    for node in graph.node:
        if not is_product(node):
            nodes.append(node)
            continue
        group = groups[node.input[0]]
        if group[0] is not node:
            continue  # emitted with the group's first product
        parts = [numpy_helper.to_array(weights[n.input[1]]).astype(np.float32) for n in group]
        w = np.concatenate(parts, axis=1)
        w_scale = (np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0).astype(np.float32)
        wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        q, scale = quantize(node.input[0])
        p = f"usher_rm{products}_"
        products += len(group)
        wq_name = const(p + "w", wq)
        ws_name = const(p + "w_scale", w_scale)
        y = add("MatMulIntegerToFloat", [q, wq_name, one, ws_name, zero_point], p + "y",
                domain="com.microsoft")
        outputs = [n.output[0] for n in group]
        if len(group) == 1:
            nodes.append(helper.make_node("Mul", [y, scale], outputs, name=p + "scaled"))
        else:
            joined = add("Mul", [y, scale], p + "scaled")
            sizes = const(p + "sizes", np.array([part.shape[1] for part in parts], np.int64))
            nodes.append(helper.make_node("Split", [joined, sizes], outputs, name=p + "split",
                                          axis=-1))

    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    if any(a.g.node or a.graphs for n in graph.node for a in n.attribute):
        sys.exit("derive-model: the model has subgraphs, whose inputs this script does not track")
    kept = [i for i in list(graph.initializer) + added if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return products, len(quantized)


def check(ort, np, source, derived):
    """The derived model must embed like the source, and each text alike in any batch."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    a = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(derived, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    ids = rng.integers(1000, 30000, size=(6, 24)).astype(np.int64)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    names = {i.name for i in a.get_inputs()}

    def embed(session, rows):
        feed = {"input_ids": rows, "attention_mask": np.ones_like(rows)}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(rows)
        v = session.run(None, feed)[0].mean(axis=1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    cosine = (embed(a, ids) * embed(b, ids)).sum(axis=1)
    if cosine.min() < 0.99:
        sys.exit(f"derived model: cosine to the source model {cosine.min():.4f} (< 0.99)")
    batched = embed(b, ids)
    single = np.vstack([embed(b, ids[i : i + 1]) for i in range(len(ids))])
    if not np.array_equal(batched, single):
        sys.exit("derived model: a text's vector depends on its batch")
    return float(cosine.min())


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    source, out = sys.argv[1], sys.argv[2]
    if not os.path.isfile(source):
        sys.exit(f"derive-model: {source}: no such file")
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    with tempfile.TemporaryDirectory(prefix="usher-derive-") as tmp:
        folded = os.path.join(tmp, "folded.onnx")
        fold_weights(ort, source, folded)
        model = onnx.load(folded)
        products, inputs = quantize_rows(model, np, helper, numpy_helper)
        if products == 0:
            sys.exit(f"derive-model: {source} has no product by a constant weight to quantize")
        staged = os.path.join(tmp, "derived.onnx")
        onnx.save(model, staged)
        cosine = check(ort, np, source, staged)
        shutil.copyfile(staged, out)
    print(
        f"derive-model: {products} weight products in int8 ({inputs} inputs quantized per "
        f"token); cosine to the source model >= {cosine:.4f}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
