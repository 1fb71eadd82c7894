"""Export a bundle to ONNX: an offline graph and a streaming step graph, fp32 or int8.

The graphs are written op by op from the bundle's weights (standard ONNX LSTM, Gather,
MatMul), not traced from torch, so each one is by construction the computation of
:class:`~speechlstm.nn.model.AcousticModel` (``forward_full``, and one chunk of
``forward_chunked``) and exporting needs only numpy and onnx. Every file carries the
bundle header in its ``metadata_props``, so the ONNX files alone are a complete model
for :mod:`speechlstm.backends.onnx`.

Graphs (``{stem}`` is the bundle's file stem, ``.int8`` marks quantized files):

* ``{stem}.offline.onnx``: ``feats`` (batch, frames, n_mels) float32 and ``lengths``
  (batch,) int64 -> ``log_probs`` (batch, frames // stack, vocab) and ``out_lengths``.
  Batch and time are dynamic; rows past a sequence's length are padding. A model with a
  phone head has a second output, ``phone_log_probs``, in both graphs.
* ``{stem}.streaming.onnx``: one chunk of one stream (batch 1). ``frames``
  ((main + right) * stack, n_mels) with main <= chunk and right <= the model's right
  context (0 included), ``main_steps`` int64 scalar, ``h_in``/``c_in`` (layers, 1, hidden)
  -> ``log_probs`` (main_steps, vocab), ``h_out``/``c_out``. Short inputs are zero-padded
  and masked exactly as ``forward_chunked`` pads them. With ``main_steps`` = all steps
  and zero state it computes the full BiLSTM, so it alone serves both modes (the
  shipped int8 model is only this file; the offline graph is for batched use).
"""
from __future__ import annotations

import json
import logging
import tempfile
from itertools import count
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..bundle import Bundle, load_bundle
from ..model_files import DEFAULT_BUNDLE, GRAPHS, exported_name

OPSET = 17
GATE_ORDER = (0, 3, 1, 2)  # torch packs LSTM gates as (i, f, g, o); ONNX as (i, o, f, c)


class _Graph:
    """Collects nodes and initializers with generated names, so graph code reads like maths."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._ids = count()

    def const(self, value: Any, dtype: Any = np.int64) -> str:
        from onnx import numpy_helper
        name = f"const_{next(self._ids)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def consts(self, arrays: Iterable[np.ndarray]) -> list[str]:
        """Fresh float32 initializers, even for arrays used before: onnxruntime's LSTM
        quantizer edits its weights in place, so no two LSTM nodes may share one (the
        copies are merged again by :func:`_deduplicate`)."""
        return [self.const(array, np.float32) for array in arrays]

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attributes: Any) -> Any:
        from onnx import helper
        index = next(self._ids)
        names = [f"{op_type.lower()}_{index}_{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=f"{op_type}_{index}", **attributes))
        return names[0] if outputs == 1 else names

    def model(self, inputs: list[Any], outputs: list[Any], renames: dict[str, str], bundle: Bundle,
              graph: str) -> Any:
        """The finished ModelProto; ``renames`` maps internal value names to the output names."""
        from onnx import helper
        for internal, public in renames.items():
            self.nodes.append(helper.make_node("Identity", [internal], [public]))
        proto = helper.make_model(helper.make_graph(self.nodes, f"speechlstm_{graph}", inputs, outputs,
                                                    self.initializers),
                                  opset_imports=[helper.make_opsetid("", OPSET)], producer_name="speechlstm")
        set_metadata(proto, bundle, graph, "fp32")
        return proto


def _deduplicate(proto: Any) -> None:
    """Keep one copy of identical initializers and point every node input at it."""
    from onnx import numpy_helper
    first: dict[tuple, str] = {}
    alias: dict[str, str] = {}
    kept = []
    for tensor in proto.graph.initializer:
        array = numpy_helper.to_array(tensor)
        key = (tensor.data_type, array.shape, array.tobytes())
        if key in first:
            alias[tensor.name] = first[key]
        else:
            first[key] = tensor.name
            kept.append(tensor)
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    for node in proto.graph.node:
        node.input[:] = [alias.get(name, name) for name in node.input]


def set_metadata(proto: Any, bundle: Bundle, graph: str, precision: str) -> None:
    """Store the bundle header (one JSON value per key) plus the graph kind and precision."""
    from .. import __version__
    entries = {key: json.dumps(value) for key, value in bundle.header().items()}
    entries.update(graph=graph, precision=precision, speechlstm_version=__version__)
    del proto.metadata_props[:]
    for key, value in entries.items():
        proto.metadata_props.add(key=key, value=value)


def _lstm_weights(bundle: Bundle, direction: str, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One torch LSTM's (W, R, B) in ONNX layout, each with a leading num_directions axis of 1."""
    def tensor(name: str) -> np.ndarray:
        array = bundle.tensors[f"{direction}_lstms.{layer}.{name}_l0"].astype(np.float32)
        return np.concatenate([np.split(array, 4)[gate] for gate in GATE_ORDER])

    bias = np.concatenate([tensor("bias_ih"), tensor("bias_hh")])
    return tensor("weight_ih")[None], tensor("weight_hh")[None], bias[None]


def _stacked_input(g: _Graph, bundle: Bundle, feats: str, time_axis: int) -> str:
    """Normalize and concatenate ``stack`` frames per step, dropping a remainder (``_stack``)."""
    k, n_mels = bundle.model.stack, bundle.frontend.n_mels
    frames = g.op("Shape", feats, start=time_axis, end=time_axis + 1)
    used = g.op("Mul", g.op("Div", frames, g.const([k])), g.const([k]))
    x = g.op("Slice", feats, g.const([0]), used, g.const([time_axis]))
    x = g.op("Div", g.op("Sub", x, g.const(bundle.tensors["feat_mean"], np.float32)),
             g.const(bundle.tensors["feat_std"], np.float32))
    shape = [0, -1, k * n_mels] if time_axis == 1 else [-1, 1, k * n_mels]
    return g.op("Reshape", x, g.const(shape))


def _head(g: _Graph, bundle: Bundle, x: str, name: str = "head") -> str:
    weight = bundle.tensors[f"{name}.weight"].astype(np.float32).T
    logits = g.op("Add", g.op("MatMul", x, g.const(weight, np.float32)),
                  g.const(bundle.tensors[f"{name}.bias"], np.float32))
    return g.op("LogSoftmax", logits, axis=-1)


def _head_outputs(g: _Graph, bundle: Bundle, x: str, axes: list[str]) -> tuple[list[Any], dict[str, str]]:
    """``log_probs`` (characters) and, for a model with a phone head, ``phone_log_probs``:
    their value infos (``axes`` before the output axis) and internal -> public names."""
    from onnx import TensorProto, helper
    heads = [("head", "log_probs", len(bundle.vocabulary))]
    if bundle.model.phone_vocab_size:
        heads.append(("phone_head", "phone_log_probs", bundle.model.phone_vocab_size))
    infos, renames = [], {}
    for name, public, size in heads:
        renames[_head(g, bundle, x, name)] = public
        infos.append(helper.make_tensor_value_info(public, TensorProto.FLOAT, axes + [size]))
    return infos, renames


def offline_graph(bundle: Bundle) -> Any:
    """``forward_full`` as one bidirectional ONNX LSTM per layer, masked by ``lengths``."""
    from onnx import TensorProto, helper
    g, hidden = _Graph(), bundle.model.hidden
    x = _stacked_input(g, bundle, "feats", time_axis=1)
    out_lengths = g.op("Div", "lengths", g.const(bundle.model.stack))
    seq_lens = g.op("Cast", out_lengths, to=TensorProto.INT32)
    x = g.op("Transpose", x, perm=[1, 0, 2])
    for layer in range(bundle.model.layers):
        forward, backward = _lstm_weights(bundle, "forward", layer), _lstm_weights(bundle, "backward", layer)
        weights = g.consts(np.concatenate(pair) for pair in zip(forward, backward))
        y = g.op("LSTM", x, *weights, seq_lens, direction="bidirectional", hidden_size=hidden)
        y = g.op("Transpose", y, perm=[0, 2, 1, 3])
        x = g.op("Reshape", y, g.const([0, 0, 2 * hidden]))
    outputs, renames = _head_outputs(g, bundle, g.op("Transpose", x, perm=[1, 0, 2]), ["batch", "steps"])
    inputs = [helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["batch", "frames", bundle.frontend.n_mels]),
              helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])]
    outputs.append(helper.make_tensor_value_info("out_lengths", TensorProto.INT64, ["batch"]))
    return g.model(inputs, outputs, {**renames, out_lengths: "out_lengths"}, bundle, "offline")


def streaming_graph(bundle: Bundle) -> Any:
    """One chunk of ``forward_chunked``: the forward LSTM continues ``h_in``/``c_in`` over the
    chunk and then the look-ahead; the backward LSTM reads chunk + look-ahead from zeros.

    As in torch, the input is zero-padded to chunk + right steps and the backward
    direction runs over the first ``window`` = min(steps, chunk + right) steps reversed
    (a Gather with a reversal index), so final partial chunks, with or without right
    context, give the same log-probs and states. A ``main_steps`` above ``chunk`` makes
    that one longer chunk: fed a whole utterance from the zero state, this is
    ``forward_full``, which lets the edge runtime do offline recognition with this graph alone.
    """
    from onnx import TensorProto, helper
    g = _Graph()
    chunk, right, hidden, layers = (getattr(bundle.model, key) for key in ("chunk", "right", "hidden", "layers"))
    x = _stacked_input(g, bundle, "frames", time_axis=0)
    steps = g.op("Shape", x, start=0, end=1)
    main_steps = g.op("Reshape", "main_steps", g.const([1]))
    chunk_steps = g.op("Max", main_steps, g.const([chunk]))
    span = g.op("Add", chunk_steps, g.const([right]))
    padding = g.op("Max", g.op("Sub", span, steps), g.const([0]))
    pads = g.op("Concat", g.const([0, 0, 0]), padding, g.const([0, 0]), axis=0)
    x = g.op("Slice", g.op("Pad", x, pads), g.const([0]), span, g.const([0]))
    window = g.op("Min", g.op("Max", steps, g.const([1])), span)
    positions = g.op("Range", g.const(0), g.op("Squeeze", span, g.const([0])), g.const(1))
    reverse = g.op("Where", g.op("Less", positions, window),
                   g.op("Sub", g.op("Sub", window, g.const([1])), positions), positions)
    h_out, c_out = [], []
    for layer in range(layers):
        h0 = g.op("Slice", "h_in", g.const([layer]), g.const([layer + 1]), g.const([0]))
        c0 = g.op("Slice", "c_in", g.const([layer]), g.const([layer + 1]), g.const([0]))
        weights = _lstm_weights(bundle, "forward", layer)
        mains = g.op("Slice", x, g.const([0]), chunk_steps, g.const([0]))
        forward, h, c = g.op("LSTM", mains, *g.consts(weights), "", h0, c0, outputs=3, hidden_size=hidden)
        if right:
            looks = g.op("Slice", x, chunk_steps, span, g.const([0]))
            look = g.op("LSTM", looks, *g.consts(weights), "", h, c, hidden_size=hidden)
            forward = g.op("Concat", forward, look, axis=0)
        h_out.append(h)
        c_out.append(c)
        backward_input = g.op("Gather", x, reverse, axis=0)
        backward = g.op("LSTM", backward_input, *g.consts(_lstm_weights(bundle, "backward", layer)), hidden_size=hidden)
        y = g.op("Concat", forward, g.op("Gather", backward, reverse, axis=0), axis=-1)
        x = g.op("Squeeze", y, g.const([1]))
    x = g.op("Reshape", g.op("Slice", x, g.const([0]), main_steps, g.const([0])), g.const([-1, 2 * hidden]))
    outputs, renames = _head_outputs(g, bundle, x, ["main_steps"])
    state_shape = [layers, 1, hidden]
    inputs = [helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["frames", bundle.frontend.n_mels]),
              helper.make_tensor_value_info("main_steps", TensorProto.INT64, []),
              helper.make_tensor_value_info("h_in", TensorProto.FLOAT, state_shape),
              helper.make_tensor_value_info("c_in", TensorProto.FLOAT, state_shape)]
    outputs += [helper.make_tensor_value_info("h_out", TensorProto.FLOAT, state_shape),
                helper.make_tensor_value_info("c_out", TensorProto.FLOAT, state_shape)]
    renames.update({g.op("Concat", *h_out, axis=0): "h_out", g.op("Concat", *c_out, axis=0): "c_out"})
    return g.model(inputs, outputs, renames, bundle, "streaming")


def quantize(proto: Any, target: Path, bundle: Bundle, graph: str) -> None:
    """Dynamic int8 quantization (onnxruntime): per-channel int8 LSTM weights, activations
    quantized on the fly; the metadata is rewritten to say ``int8``.

    The weights use 7 bits (``reduce_range``, |w| <= 64) so the result does not depend on
    the CPU: onnxruntime multiplies u8 activations by s8 weights, and x86 CPUs without VNNI
    (AVX2-only, AVX-512 before Cascade Lake) add each pair of products in 16 bits, which
    saturates when 2 * 255 * |w| > 32767. With full 8-bit weights an AVX2-only AMD EPYC lost 0.6
    WER on dev (issue 23; RESULTS.md has the per-CPU figures). The output heads stay
    float32: they are 1 % of the weights, and quantizing them cost the phone head 0.25 / 0.4
    WER offline / streaming on dev (40.44 / 41.52 against 40.19 / 41.11, stage 7)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with tempfile.TemporaryDirectory() as scratch:
        source, quantized = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
        onnx.save(proto, source)
        logging.disable(logging.WARNING)  # the quantizer logs advice about CNN pre-processing
        try:
            quantize_dynamic(source, quantized, op_types_to_quantize=["LSTM"], per_channel=True, reduce_range=True,
                             weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        result = onnx.load(quantized)
    _deduplicate(result)
    set_metadata(result, bundle, graph, "int8")
    onnx.save(result, target)


def export(model: str | Path | None, out_dir: str | Path, int8: bool = False,
           graphs: Sequence[str] = GRAPHS) -> list[Path]:
    """Write ``graphs`` (default: offline and streaming) of bundle ``model`` (default: the
    shipped one) into ``out_dir``; fp32, or int8 only when ``int8`` is set. Returns the
    written paths."""
    import onnx
    bundle = load_bundle(model)
    stem = Path(model if model is not None else DEFAULT_BUNDLE).stem
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    builders = {"offline": offline_graph, "streaming": streaming_graph}
    for graph in graphs:
        proto = builders[graph](bundle)
        onnx.checker.check_model(proto)
        target = out_dir / exported_name(stem, graph, int8)
        if int8:
            quantize(proto, target, bundle, graph)
        else:
            _deduplicate(proto)
            onnx.save(proto, target)
        written.append(target)
    return written
