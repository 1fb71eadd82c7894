#!/usr/bin/env python3
"""Training throughput: audio seconds per second of one training step (full and chunked mode)
and of the data path (decoded audio -> augmented log-mel features), on one torch thread.

    python tools/bench_train_step.py                     # 288 x 4, a ~200 s batch of 11-13 s utterances
    python tools/bench_train_step.py --profile chunked   # also torch.profiler's table of one step

The batch is the trainer's own: utterances of ``--manifest`` near ``--duration`` seconds, featurized by
``FeatureDataset`` with the training augmentation, collated by the trainer's ``collate``; a step is the
forward pass, the character and phone CTC losses, the backward pass and an AdamW update. Chunked steps
draw chunk and right context as the trainer does (6-16 and 0-12 steps), the same draws in every run.
Figures are per CPU second of this process (steady on a shared machine) and per wall second.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from benchlib import SHARED, machine


def _timed(function) -> tuple[float, float]:
    """CPU seconds and wall seconds of ``function()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    function()
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=SHARED / "data" / "train.tsv")
    parser.add_argument("--duration", type=float, default=12.0, help="utterance length to batch (default 12 s)")
    parser.add_argument("--batch-seconds", type=float, default=200.0, help="padded audio per batch (default 200)")
    parser.add_argument("--hidden", type=int, default=288)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--augment", type=float, default=0.6, help="as speechlstm train --augment (default 0.6)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per mode (default 3)")
    parser.add_argument("--draws", type=int, default=3, help="featurizations of the batch timed (default 3)")
    parser.add_argument("--profile", choices=["full", "chunked"], help="print torch.profiler's table of one step")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    import torch

    from speechlstm.config import FrontendConfig, ModelConfig
    from speechlstm.io.manifest import read_manifest
    from speechlstm.nn.augment import AugmentConfig
    from speechlstm.nn.data import FeatureDataset, load_audio_cache
    from speechlstm.nn.model import AcousticModel
    from speechlstm.nn.train import collate
    from speechlstm.phones import PHONES
    from speechlstm.text import VOCABULARY

    torch.set_num_threads(1)
    rows = sorted(read_manifest(args.manifest), key=lambda u: abs(u.duration - args.duration))
    rows = rows[: max(1, int(args.batch_seconds // max(u.duration for u in rows[:8])))]
    audio_seconds = sum(u.duration for u in rows)
    dataset = FeatureDataset(rows, load_audio_cache(rows, 1), FrontendConfig(), AugmentConfig().scaled(args.augment),
                             seed=1)
    data_cpu = data_wall = 0.0
    for draw in range(args.draws):
        cpu, wall = _timed(lambda: [dataset[(i, draw)] for i in range(len(rows))])
        data_cpu, data_wall = data_cpu + cpu, data_wall + wall
    batch = collate([dataset[(i, 0)] for i in range(len(rows))])
    batch.phone_lengths = batch.target_lengths // 2
    batch.phone_targets = torch.randint(1, len(PHONES), (int(batch.phone_lengths.sum()),))
    step_audio = float(batch.lengths.sum()) * FrontendConfig().hop_seconds

    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(hidden=args.hidden, layers=args.layers, vocab_size=len(VOCABULARY),
                                      dropout=0.3, phone_vocab_size=len(PHONES)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(chunk: int | None, right: int | None) -> None:
        chars, phones, lengths = model(batch.feats, batch.lengths, chunk, right)
        loss = torch.nn.functional.ctc_loss(chars.transpose(0, 1), batch.targets, lengths, batch.target_lengths,
                                            zero_infinity=True)
        loss = loss + 2.0 * torch.nn.functional.ctc_loss(phones.transpose(0, 1), batch.phone_targets, lengths,
                                                         batch.phone_lengths, zero_infinity=True)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    draws = random.Random(0)
    modes = {"full": [(None, None)] * args.steps,
             "chunked": [(draws.randint(6, 16), draws.randint(0, 12)) for _ in range(args.steps)]}
    step(None, None)
    figures = {"data": {"audio_s_per_cpu_s": args.draws * audio_seconds / data_cpu,
                        "audio_s_per_wall_s": args.draws * audio_seconds / data_wall}}
    for mode, settings in modes.items():
        cpu = wall = 0.0
        for chunk, right in settings:
            step_cpu, step_wall = _timed(lambda: step(chunk, right))
            cpu, wall = cpu + step_cpu, wall + step_wall
        figures[mode] = {"audio_s_per_cpu_s": len(settings) * step_audio / cpu,
                         "audio_s_per_wall_s": len(settings) * step_audio / wall}
    print(f"{len(rows)} utterances, {step_audio:.0f} s of audio per batch; {args.hidden} x {args.layers}, 1 thread; "
          f"load {machine()['load_1min']:.1f}")
    print("| path | audio s per CPU s | audio s per wall s |")
    print("|---|---:|---:|")
    for name, row in figures.items():
        print(f"| {name} | {row['audio_s_per_cpu_s']:.1f} | {row['audio_s_per_wall_s']:.1f} |")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            step(*modes[args.profile][0])
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": len(rows), "batch_audio_s": step_audio,
                                         "chunked_draws": modes["chunked"], "figures": figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
