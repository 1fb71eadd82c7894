"""Train the punctuation and truecasing tagger and export it to ONNX (:mod:`speechlstm.punctuation`
runs it). Run with ``speechlstm train-punct``.

The tagger: word embeddings (the most frequent training words) plus the sum of hashed
character-trigram embeddings (so unknown names still look like names), then a BiLSTM, then
two linear heads (case, following mark). Training is time-boxed (``--minutes``) on runs of
shuffled sentences from the books that are not held out.
"""
from __future__ import annotations

import logging
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..punct_data import Run, make_runs, read_sentences, score
from ..punctuation import CASES, MARKS, NGRAM_BUCKETS, NGRAMS, Vocabulary
from .train_config import PunctTrainConfig, TaggerConfig

log = logging.getLogger("speechlstm.punct")


class PunctTagger(nn.Module):
    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        self.config = config
        self.words = nn.Embedding(config.vocab_size + 2, config.word_dim, padding_idx=0)
        self.ngrams = nn.Embedding(NGRAM_BUCKETS + 1, config.ngram_dim, padding_idx=0)
        sizes = [config.word_dim + config.ngram_dim] + [2 * config.hidden] * (config.layers - 1)
        self.lstms = nn.ModuleList(nn.LSTM(size, config.hidden, batch_first=True, bidirectional=True)
                                   for size in sizes)
        self.drop = nn.Dropout(config.dropout)
        self.case_head = nn.Linear(2 * config.hidden, len(CASES))
        self.mark_head = nn.Linear(2 * config.hidden, len(MARKS))

    def forward(self, ids: torch.Tensor, grams: torch.Tensor, lengths: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.words(ids), self.ngrams(grams).sum(2)], dim=-1)
        for lstm in self.lstms:
            packed = pack_padded_sequence(self.drop(x), lengths, batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=ids.shape[1])
        x = self.drop(x)
        return self.case_head(x), self.mark_head(x)


def build_vocabulary(sentences: Sequence[list], size: int) -> Vocabulary:
    """The ``size`` most frequent words, and each mixed-case word's most frequent spelling."""
    counts: Counter = Counter()
    spellings: Counter = Counter()
    for sentence in sentences:
        for word, case, _, written in sentence:
            counts[word] += 1
            if case == CASES.index("mixed"):
                spellings[(word, written)] += 1
    mixed: dict[str, str] = {}
    for (word, written), _ in spellings.most_common():
        mixed.setdefault(word, written)
    return Vocabulary(tuple(word for word, _ in counts.most_common(size)), mixed)


def batch_tensors(runs: Sequence[Run], vocabulary: Vocabulary) -> tuple[torch.Tensor, ...]:
    longest = max(len(run.words) for run in runs)
    ids = np.zeros((len(runs), longest), dtype=np.int64)
    grams = np.zeros((len(runs), longest, NGRAMS), dtype=np.int64)
    cases = np.full((len(runs), longest), -100, dtype=np.int64)
    marks = np.full((len(runs), longest), -100, dtype=np.int64)
    for row, run in enumerate(runs):
        n = len(run.words)
        ids[row, :n], grams[row, :n] = vocabulary.features(run.words)
        cases[row, :n], marks[row, :n] = run.cases, run.marks
    lengths = torch.tensor([len(run.words) for run in runs])
    return (torch.from_numpy(ids), torch.from_numpy(grams), lengths, torch.from_numpy(cases),
            torch.from_numpy(marks))


def predict(model: PunctTagger, runs: Sequence[Run], vocabulary: Vocabulary,
            batch: int = 64) -> tuple[list[list[int]], list[list[int]]]:
    model.eval()
    cases, marks = [], []
    with torch.no_grad():
        for first in range(0, len(runs), batch):
            part = runs[first:first + batch]
            ids, grams, lengths, _, _ = batch_tensors(part, vocabulary)
            case_logits, mark_logits = model(ids, grams, lengths)
            for row, run in enumerate(part):
                cases.append(case_logits[row, :len(run.words)].argmax(-1).tolist())
                marks.append(mark_logits[row, :len(run.words)].argmax(-1).tolist())
    model.train()
    return cases, marks


def train(model: PunctTagger, vocabulary: Vocabulary, sentences: Sequence[list], dev: Sequence[Run],
          minutes: float, batch: int, lr: float, seed: int) -> None:
    """Adam on the summed cross-entropies of both heads until ``minutes`` have passed (the
    learning rate falls linearly to a tenth over that time); dev figures every few minutes."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    start, epoch, steps, last_report = time.monotonic(), 0, 0, time.monotonic()
    budget = minutes * 60
    while True:
        runs = make_runs(sentences, seed + epoch, cut=0.5)
        random.Random(seed + epoch).shuffle(runs)
        for first in range(0, len(runs), batch):
            elapsed = time.monotonic() - start
            if elapsed > budget:
                return
            for group in optimizer.param_groups:
                group["lr"] = lr * (1 - 0.9 * elapsed / budget)
            ids, grams, lengths, cases, marks = batch_tensors(runs[first:first + batch], vocabulary)
            case_logits, mark_logits = model(ids, grams, lengths)
            loss = loss_fn(case_logits.flatten(0, 1), cases.flatten()) + loss_fn(mark_logits.flatten(0, 1),
                                                                                   marks.flatten())
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            steps += 1
            if time.monotonic() - last_report > 180:
                last_report = time.monotonic()
                figures = score(dev, *predict(model, dev, vocabulary))
                log.info("%.1f min, epoch %d, step %d, loss %.3f; dev F1 , %.3f . %.3f ? %.3f capital %.3f",
                         elapsed / 60, epoch, steps, loss.item(), figures[", F1"], figures[". F1"],
                         figures["? F1"], figures["capital F1"])
        epoch += 1


def _lstm_onnx(lstm: nn.LSTM) -> list[np.ndarray]:
    """A bidirectional torch LSTM's W, R, B in ONNX layout (gates i, o, f, c)."""
    from .export import GATE_ORDER

    def gates(name: str) -> np.ndarray:
        array = getattr(lstm, name).detach().numpy()
        return np.concatenate([np.split(array, 4)[gate] for gate in GATE_ORDER])

    out = []
    for kind in ("weight_ih", "weight_hh"):
        out.append(np.stack([gates(f"{kind}_l0"), gates(f"{kind}_l0_reverse")]))
    out.append(np.stack([np.concatenate([gates(f"bias_ih_l0{s}"), gates(f"bias_hh_l0{s}")])
                         for s in ("", "_reverse")]))
    return out


def export_onnx(model: PunctTagger, vocabulary: Vocabulary, target: Path, int8: bool = True) -> Path:
    """The tagger as an ONNX graph written op by op (Gather, ReduceSum, LSTM, MatMul), the
    vocabulary in its metadata; int8 embeddings and LSTM weights with ``int8``."""
    import onnx
    from onnx import TensorProto, helper

    from .. import __version__
    from .export import _deduplicate, _Graph

    g = _Graph()
    hidden = model.config.hidden
    words = g.op("Gather", g.const(model.words.weight.detach().numpy(), np.float32), "word_ids")
    grams = g.op("ReduceSum", g.op("Gather", g.const(model.ngrams.weight.detach().numpy(), np.float32), "ngram_ids"),
                 g.const([2]), keepdims=0)
    x = g.op("Transpose", g.op("Concat", words, grams, axis=-1), perm=[1, 0, 2])
    seq_lens = g.op("Cast", "lengths", to=TensorProto.INT32)
    for lstm in model.lstms:
        y = g.op("LSTM", x, *g.consts(_lstm_onnx(lstm)), seq_lens, direction="bidirectional", hidden_size=hidden)
        x = g.op("Reshape", g.op("Transpose", y, perm=[0, 2, 1, 3]), g.const([0, 0, 2 * hidden]))
    x = g.op("Transpose", x, perm=[1, 0, 2])
    outputs = []
    for head, name, size in ((model.case_head, "case_logits", len(CASES)), (model.mark_head, "mark_logits", len(MARKS))):
        logits = g.op("Add", g.op("MatMul", x, g.const(head.weight.detach().numpy().T, np.float32)),
                      g.const(head.bias.detach().numpy(), np.float32))
        g.nodes.append(helper.make_node("Identity", [logits], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "words", size]))
    inputs = [helper.make_tensor_value_info("word_ids", TensorProto.INT64, ["batch", "words"]),
              helper.make_tensor_value_info("ngram_ids", TensorProto.INT64, ["batch", "words", NGRAMS]),
              helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])]
    proto = helper.make_model(helper.make_graph(g.nodes, "speechlstm_punct", inputs, outputs, g.initializers),
                              opset_imports=[helper.make_opsetid("", 17)], producer_name="speechlstm")
    onnx.checker.check_model(proto)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        with tempfile.TemporaryDirectory() as scratch:
            source, quantized = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
            onnx.save(proto, source)
            logging.disable(logging.WARNING)
            try:
                quantize_dynamic(source, quantized, op_types_to_quantize=["LSTM", "Gather"], per_channel=True,
                                 weight_type=QuantType.QInt8)
            finally:
                logging.disable(logging.NOTSET)
            proto = onnx.load(quantized)
    _deduplicate(proto)
    del proto.metadata_props[:]
    for key, value in {"vocabulary": vocabulary.to_json(), "graph": "punct", "precision": "int8" if int8 else "fp32",
                       "speechlstm_version": __version__}.items():
        proto.metadata_props.add(key=key, value=value)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, target)
    return target


def save_checkpoint(path: Path, model: PunctTagger, vocabulary: Vocabulary) -> None:
    torch.save({"config": model.config.__dict__, "state": model.state_dict(), "vocabulary": vocabulary.to_json()},
               path)


def load_checkpoint(path: Path) -> tuple[PunctTagger, Vocabulary]:
    data = torch.load(path, weights_only=True)
    model = PunctTagger(TaggerConfig(**data["config"]))
    model.load_state_dict(data["state"])
    return model, Vocabulary.from_json(data["vocabulary"])


def main(args: PunctTrainConfig) -> None:
    """Train (or resume) the tagger, score it on the dev runs and export it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sentences = read_sentences(args.prompts, evaluation=False)
    dev = make_runs(read_sentences(args.prompts, evaluation=True, limit=1500), seed=1)
    log.info("%d training sentences, %d dev runs", len(sentences), len(dev))
    if args.resume and args.checkpoint and args.checkpoint.exists():
        model, vocabulary = load_checkpoint(args.checkpoint)
    else:
        model, vocabulary = PunctTagger(args.tagger_config()), build_vocabulary(sentences, args.vocab_size)
    train(model, vocabulary, sentences, dev, args.minutes, args.batch, args.lr, args.seed)
    model.eval()
    if args.checkpoint:
        save_checkpoint(args.checkpoint, model, vocabulary)
    figures = score(dev, *predict(model, dev, vocabulary))
    log.info("dev: %s", ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    log.info("wrote %s", export_onnx(model, vocabulary, args.out, int8=not args.fp32))
