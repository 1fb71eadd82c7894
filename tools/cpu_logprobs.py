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
from speechlstm.io.manifest import read_manifest
from speechlstm.results import Result

MODES = ("offline", "streaming")


class Recorder:
    """A decoder that decodes nothing: its one state is the list of log-prob chunks it was given."""

    def __init__(self, head: str) -> None:
        self.head, self.chunks = head, []

    def new_state(self) -> list[np.ndarray]:
        return self.chunks

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
        for index, row in enumerate(rows):
            decoder = Recorder(head)
            Recognizer(bundle, backend, config, decoder=decoder).transcribe_file(row.path, mode=mode)
            for k, chunk in enumerate(decoder.chunks):
                arrays[f"{mode}/{index}/{k}"] = chunk
        seconds[mode] = time.process_time() - start
    meta = {"manifest": str(args.manifest), "limit": args.limit, "head": head, "backend": backend_name,
            "model": str(args.model), "machine": platform.machine(), "seconds": seconds}
    np.savez_compressed(args.out, meta=np.array(json.dumps(meta)), **arrays)
    print(json.dumps(meta))


def load(path: Path) -> tuple[dict, dict[str, dict[int, list[np.ndarray]]]]:
    """The recording's metadata and its chunks (in order) by mode and manifest row."""
    with np.load(path) as data:
        keys = sorted(tuple(map(int, key.split("/")[1:])) + (key,) for key in data.files if key != "meta")
        chunks: dict[str, dict[int, list[np.ndarray]]] = {}
        for row, _, key in keys:
            chunks.setdefault(key.split("/")[0], {}).setdefault(row, []).append(data[key])
        return json.loads(str(data["meta"])), chunks


def score_recording(args: argparse.Namespace) -> None:
    from speechlstm.scoring import score
    meta, chunks = load(args.recording)
    other = load(args.against)[1] if args.against else None
    manifest = Path(meta["manifest"])
    rows = read_manifest(manifest, columns=("path", "text"))[:meta["limit"]]
    references = {index: row.text for index, row in enumerate(rows)}
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
        ids = [row for row in references if row in utterances]
        hypotheses = [decode(utterances[row]) for row in ids]
        figures[mode] = score([references[row] for row in ids], hypotheses)
        figures[mode]["utterances"] = len(ids)
        if other is not None:
            theirs = other[mode]
            figures[mode]["max_abs_logprob_diff"] = float(max(
                np.abs(np.concatenate(utterances[row]) - np.concatenate(theirs[row])).max() for row in ids))
            figures[mode]["transcripts_differing"] = sum(
                hypothesis != decode(theirs[row]) for row, hypothesis in zip(ids, hypotheses))
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
