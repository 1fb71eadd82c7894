"""CTC training with dynamic chunk training, time-budgeted schedules and resumable checkpoints.

Runs as one process on CPU or GPU, or under ``torchrun --nproc-per-node N`` with
DistributedDataParallel (gloo on CPU, nccl on GPUs). Each batch draws the mode: full
BiLSTM, or chunked with a random chunk and right context, so one model serves both.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .bundle import load_bundle, save_bundle
from .data import AugmentConfig, FeatureDataset, Utterance, bucket_batches, load_audio_cache, read_manifest
from .decoding import GreedyDecoder
from .frontend import FrontendConfig, LogMel
from .model import AcousticModel, ModelConfig

from .text import VOCABULARY, normalize_text


@dataclass
class Batch:
    feats: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor


def collate(items: list[tuple[np.ndarray, list[int]]]) -> Batch:
    lengths = torch.tensor([len(f) for f, _ in items])
    feats = torch.zeros(len(items), int(lengths.max()), items[0][0].shape[1])
    for row, (f, _) in enumerate(items):
        feats[row, : len(f)] = torch.from_numpy(f)
    targets = torch.tensor([t for _, ids in items for t in ids], dtype=torch.long)
    return Batch(feats, lengths, targets, torch.tensor([len(ids) for _, ids in items]))


def feature_stats(utterances: list[Utterance], audio: list[np.ndarray], frontend: FrontendConfig,
                  limit: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Global mean and standard deviation of log-mel features over a sample of utterances."""
    extractor = LogMel(frontend)
    picks = random.Random(0).sample(range(len(utterances)), min(limit, len(utterances)))
    feats = np.concatenate([extractor(audio[i].astype(np.float32) / 32768.0) for i in picks])
    return feats.mean(axis=0), feats.std(axis=0) + 1e-5


def greedy_transcripts(model: AcousticModel, dataset: FeatureDataset, device: torch.device,
                       chunked: bool) -> list[str]:
    """Decode every dataset item one at a time (exactly as offline or streaming inference)."""
    decoder = GreedyDecoder(0.03, VOCABULARY)
    texts = []
    model.eval()
    with torch.no_grad():
        for index in range(len(dataset)):
            feats, _ = dataset[(index, 0)]
            x = torch.from_numpy(feats)[None].to(device)
            lengths = torch.tensor([len(feats)])
            log_probs = model.forward_chunked(x, lengths)[0] if chunked else model.forward_full(x, lengths)[0]
            state = decoder.new_state()
            decoder.advance(state, log_probs[0].cpu().numpy())
            texts.append(decoder.result(state, final=True).text)
    model.train()
    return texts


def evaluate(model: AcousticModel, dataset: FeatureDataset, device: torch.device) -> dict[str, float]:
    from .scoring import score
    refs = [normalize_text(u.text) for u in dataset.utterances]
    figures = {}
    for mode, chunked in (("offline", False), ("streaming", True)):
        result = score(refs, greedy_transcripts(model, dataset, device, chunked))
        figures[f"{mode}_wer"], figures[f"{mode}_cer"] = result["wer"], result["cer"]
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="speechlstm train",
        description="Train a character CTC latency-controlled BiLSTM on TSV manifests. "
                    "Checkpoints every few minutes to OUT/checkpoint.pt and resumes from it.")
    parser.add_argument("--train", action="append", required=True, metavar="MANIFEST[:REPEAT]",
                        help="training manifest; REPEAT oversamples it (e.g. real speech :3)")
    parser.add_argument("--dev", help="development manifest, scored with greedy decoding")
    parser.add_argument("--init", type=Path, help="start from this bundle's weights (fine-tuning)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--hidden", type=int, default=288)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=10, help="shipped chunk size in 30 ms steps")
    parser.add_argument("--right", type=int, default=8, help="shipped right context in 30 ms steps")
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--max-minutes", type=float, default=60.0, help="training time budget")
    parser.add_argument("--batch-seconds", type=float, default=400.0, help="padded audio per batch")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=300, help="warm-up steps")
    parser.add_argument("--augment", type=float, default=1.0,
                        help="scale of the noise/reverb/telephone/re-encoding probabilities "
                             "(0: speed and frequency warp only)")
    parser.add_argument("--p-full", type=float, default=0.4, help="share of batches in full mode")
    parser.add_argument("--workers", type=int, default=1, help="data loader processes")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--eval-minutes", type=float, default=15.0)
    parser.add_argument("--eval-limit", type=int, default=0, help="score only the first N dev utterances")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def _learning_rate(args: argparse.Namespace, step: int, progress: float) -> float:
    """Linear warm-up, then cosine decay to 5 % over the time budget."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _load_sets(args: argparse.Namespace, workers: int) -> tuple[list[Utterance], list[int], list[np.ndarray]]:
    utterances, weights = [], []
    for spec in args.train:
        path, _, repeat = spec.partition(":")
        rows = [u for u in read_manifest(path) if 0.3 < u.duration < 35 and normalize_text(u.text)]
        utterances += rows
        weights += [int(repeat or 1)] * len(rows)
    return utterances, weights, load_audio_cache(utterances, workers)


def _agree_to_stop(stop: bool, world: int, device: torch.device) -> bool:
    """All ranks stop on the same step, or DistributedDataParallel would wait forever."""
    if world == 1:
        return stop
    flag = torch.tensor([float(stop)], device=device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device(args.device)
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    frontend = FrontendConfig()
    utterances, weights, audio = _load_sets(args, max(1, args.workers))
    hours = sum(u.duration for u in utterances) / 3600
    config = ModelConfig(hidden=args.hidden, layers=args.layers, vocab_size=len(VOCABULARY),
                         dropout=args.dropout, chunk=args.chunk, right=args.right)
    model = AcousticModel(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    checkpoint_path = args.out / "checkpoint.pt"
    step, epoch, trained_seconds, best = 0, 0, 0.0, float("inf")
    if checkpoint_path.exists():
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=True)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, epoch = int(checkpoint["step"]), int(checkpoint["epoch"])
        trained_seconds, best = float(checkpoint["trained_seconds"]), float(checkpoint["best"])
    elif args.init:
        model.load_state_dict(load_bundle(args.init).acoustic_model().state_dict())
    else:
        mean, std = feature_stats(utterances, audio, frontend)
        model.feat_mean.copy_(torch.from_numpy(mean))
        model.feat_std.copy_(torch.from_numpy(std))
    wrapped = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    dataset = FeatureDataset(utterances, audio, frontend, AugmentConfig().scaled(args.augment), seed=args.seed)
    dev = None
    if args.dev and rank == 0:
        dev_rows = read_manifest(args.dev)[: args.eval_limit or None]
        dev = FeatureDataset(dev_rows, load_audio_cache(dev_rows, max(1, args.workers)), frontend)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    durations = [u.duration for u in utterances]
    mode_rng = random.Random(args.seed * 1000 + rank)
    log_path = args.out / "train_log.tsv"
    if rank == 0 and not log_path.exists():
        log_path.write_text("step\tepoch\tminutes\taudio_hours_seen\tloss\tlr\tsteps_per_s\t"
                            "audio_s_per_wall_s\toffline_wer\toffline_cer\tstreaming_wer\tstreaming_cer\n")
    budget = args.max_minutes * 60
    start = time.time() - trained_seconds
    last_checkpoint = last_eval = time.time()
    losses, seen_audio, window_start, window_steps = [], 0.0, time.time(), 0
    info = {"train_hours": round(hours, 3), "manifests": args.train}

    def save(final: bool = False) -> None:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "epoch": epoch, "trained_seconds": time.time() - start, "best": best},
                   checkpoint_path.with_suffix(".tmp"))
        checkpoint_path.with_suffix(".tmp").replace(checkpoint_path)
        save_bundle(args.out / "last.safetensors", model, frontend, {**info, "step": step})
        if final:
            print(f"saved {checkpoint_path} at step {step}", flush=True)

    def log(figures: dict[str, float]) -> None:
        nonlocal losses, seen_audio, window_start, window_steps
        elapsed = time.time() - window_start
        row = [step, epoch, f"{(time.time() - start) / 60:.2f}", f"{seen_audio / 3600:.3f}",
               f"{np.mean(losses) if losses else float('nan'):.4f}", f"{optimizer.param_groups[0]['lr']:.2e}",
               f"{window_steps / elapsed:.3f}", f"{seen_audio / elapsed:.1f}"]
        row += [f"{figures[k]:.4f}" if k in figures else "" for k in
                ("offline_wer", "offline_cer", "streaming_wer", "streaming_cer")]
        with open(log_path, "a") as handle:
            handle.write("\t".join(map(str, row)) + "\n")
        print("\t".join(map(str, row)), flush=True)
        losses, seen_audio, window_start, window_steps = [], 0.0, time.time(), 0

    def evaluate_and_keep_best(best: float) -> float:
        """Score dev offline and streaming; keep the bundle with the best streaming WER."""
        figures = evaluate(model, dev, device)
        log(figures)
        if figures["streaming_wer"] < best:
            save_bundle(args.out / "best.safetensors", model, frontend, {**info, "step": step, **figures})
            return figures["streaming_wer"]
        return best

    done = False
    while epoch < args.epochs and not done:
        batches = bucket_batches(durations, weights, args.batch_seconds, random.Random(args.seed + epoch))
        batches = batches[rank::world][: len(batches) // world]
        loader = DataLoader([[(i, epoch) for i in b] for b in batches], batch_size=None, shuffle=False,
                            num_workers=args.workers, collate_fn=lambda keys: collate([dataset[k] for k in keys]),
                            prefetch_factor=4 if args.workers else None)
        for batch in loader:
            progress = (time.time() - start) / budget
            if _agree_to_stop(progress >= 1.0, world, device):
                done = True
                break
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(args, step, progress)
            feats = batch.feats.to(device, non_blocking=True)
            chunk, right = None, None
            if mode_rng.random() >= args.p_full:
                chunk, right = mode_rng.randint(6, 16), mode_rng.randint(0, 12)
            log_probs, out_lengths = wrapped(feats, batch.lengths.to(device), chunk, right)
            loss = ctc(log_probs.transpose(0, 1), batch.targets.to(device), out_lengths,
                       batch.target_lengths.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            step += 1
            window_steps += 1
            losses.append(loss.item())
            seen_audio += float(batch.lengths.sum()) * frontend.hop_length / frontend.sample_rate
            if rank == 0 and step % 50 == 0:
                log({})
            if rank == 0 and dev is not None and time.time() - last_eval > args.eval_minutes * 60:
                best = evaluate_and_keep_best(best)
                last_eval = time.time()
            if rank == 0 and time.time() - last_checkpoint > args.checkpoint_minutes * 60:
                save()
                last_checkpoint = time.time()
        else:
            epoch += 1
    if rank == 0:
        if dev is not None:
            best = evaluate_and_keep_best(best)
        save(final=True)
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
