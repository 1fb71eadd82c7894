#!/usr/bin/env python3
"""WER of an exported model on another CPU: record its log-probs there, decode them here.

Under emulation (``scripts/emulated_cpus.sh``) the acoustic model is what differs between
CPUs and what is worth emulating; the beam decoder would about double the emulated time. So
``record`` runs the edge runtime as ``speechlstm eval`` does (same frontend, segments, chunks
and head) with a decoder that only keeps the log-probs it is given, and ``score`` feeds them
to the default decoder natively:

    python tools/cpu_logprobs.py record ../shared/data/dev.tsv /tmp/native.npz --limit 20
    scripts/emulated_cpus.sh run haswell tools/cpu_logprobs.py record ../shared/data/dev.tsv /tmp/haswell.npz --limit 20
    python tools/cpu_logprobs.py score /tmp/haswell.npz --against /tmp/native.npz

``score`` prints the WER per mode and, with ``--against``, the largest log-prob difference and
how many transcripts differ from the other recording's. ``--model`` names the graph (default:
the shipped int8 one).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from speechlstm import Recognizer, RecognizerConfig
from speechlstm.backends import load_backend, resolve_backend
from speechlstm.config import DecodingConfig
from speechlstm.decode import decoder_head
from speechlstm.evaluate import utterance_id
from speechlstm.io.manifest import read_manifest
from speechlstm.results import Result
from speechlstm.scoring import score

MODES = ("offline", "streaming")


class Recorder:
    """A decoder that decodes nothing: its state is the list of log-prob chunks it was given."""

    def __init__(self, head: str) -> None:
        self.head = head

    def new_state(self) -> list[np.ndarray]:
        return []

    def advance(self, state: list[np.ndarray], log_probs: np.ndarray) -> None:
        state.append(np.array(log_probs, dtype=np.float32))

    def result(self, state: list[np.ndarray], final: bool = False) -> Result:
        return Result("", ())


def record(args: argparse.Namespace) -> None:
    backend_name = resolve_backend(args.backend, args.model)
    bundle, backend = load_backend(backend_name, args.model, threads=1)
    head, _ = decoder_head(bundle, DecodingConfig(), args.model, backend.heads)
    config = RecognizerConfig(model=args.model, backend=backend_name, threads=1)
    rows = read_manifest(args.manifest, columns=("path", "text"))[:args.limit]
    arrays, seconds = {}, {}
    for mode in args.modes:
        start = time.process_time()
        for row in rows:
            decoder = Recorder(head)
            state = decoder.new_state()
            decoder.new_state = lambda state=state: state  # the recognizer's own state is this list
            Recognizer(bundle, backend, config, decoder=decoder).transcribe_file(row.path, mode=mode)
            for k, chunk in enumerate(state):
                arrays[f"{mode}/{utterance_id(row, args.manifest)}/{k}"] = chunk
        seconds[mode] = time.process_time() - start
    meta = {"manifest": str(args.manifest), "limit": args.limit, "head": head, "backend": backend_name,
            "model": str(args.model), "machine": platform.machine(), "seconds": seconds}
    np.savez_compressed(args.out, meta=np.array(json.dumps(meta)), **arrays)
    print(json.dumps(meta))


def load(path: Path) -> tuple[dict, dict[str, dict[str, list[np.ndarray]]]]:
    """The recording's metadata and its chunks (in order) by mode and utterance id."""
    with np.load(path) as data:
        keys = []
        for key in data.files:
            if key != "meta":
                mode, rest = key.split("/", 1)
                uid, index = rest.rsplit("/", 1)
                keys.append((mode, uid, int(index), key))
        chunks: dict[str, dict[str, list[np.ndarray]]] = {}
        for mode, uid, _, key in sorted(keys):
            chunks.setdefault(mode, {}).setdefault(uid, []).append(data[key])
        return json.loads(str(data["meta"])), chunks


def score_recording(args: argparse.Namespace) -> None:
    meta, chunks = load(args.recording)
    other = load(args.against)[1] if args.against else None
    manifest = Path(meta["manifest"])
    rows = read_manifest(manifest, columns=("path", "text"))[:meta["limit"]]
    references = {utterance_id(row, manifest): row.text for row in rows}
    native = Recognizer.from_config(RecognizerConfig(model=meta["model"] if meta["model"] != "None" else None,
                                                     backend=meta["backend"]))
    decoder = native.decoder
    if decoder.head != meta["head"]:
        raise SystemExit(f"recorded head {meta['head']} but the default decoder reads {decoder.head}")

    def decode(parts: list[np.ndarray]) -> str:
        state = decoder.new_state()
        for part in parts:
            decoder.advance(state, part)
        return decoder.result(state, final=True).text

    figures = {}
    for mode, utterances in chunks.items():
        ids = [uid for uid in references if uid in utterances]
        hypotheses = [decode(utterances[uid]) for uid in ids]
        figures[mode] = {key: value for key, value in score([references[uid] for uid in ids], hypotheses).items()}
        figures[mode]["utterances"] = len(ids)
        if other is not None:
            theirs = other[mode]
            figures[mode]["max_abs_logprob_diff"] = float(max(
                np.abs(np.concatenate(utterances[uid]) - np.concatenate(theirs[uid])).max() for uid in ids))
            figures[mode]["transcripts_differing"] = sum(
                hypothesis != decode(theirs[uid]) for uid, hypothesis in zip(ids, hypotheses))
    print(json.dumps({"recording": meta, "figures": figures}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True)
    rec = commands.add_parser("record", help="run the model and keep its log-probs (run this under emulation)")
    rec.add_argument("manifest", type=Path)
    rec.add_argument("out", type=Path)
    rec.add_argument("--limit", type=int)
    rec.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    rec.add_argument("--model", type=Path)
    rec.add_argument("--backend", default="auto")
    rec.set_defaults(run=record)
    sc = commands.add_parser("score", help="decode a recording natively and score it")
    sc.add_argument("recording", type=Path)
    sc.add_argument("--against", type=Path, help="another recording of the same utterances to compare with")
    sc.set_defaults(run=score_recording)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
