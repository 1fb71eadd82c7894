"""CTC training with dynamic chunk training, time-budgeted schedules and resumable checkpoints.

Runs as one process on CPU or GPU, or under ``torchrun --nproc-per-node N -m speechlstm train`` with
DistributedDataParallel (gloo on CPU, nccl on GPUs). Each batch draws the mode: full
BiLSTM, or chunked with a random chunk and right context, so one model serves both.
With ``--lexicon`` an auxiliary phone CTC head trains beside the character head.
"""
from __future__ import annotations

import math
import os
import random
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..bundle import load_bundle
from ..config import FrontendConfig, ModelConfig
from ..decode.base import decode_matrix
from ..decode.greedy import GreedyDecoder
from ..frontend import LogMel
from ..io.manifest import Utterance, read_manifest
from ..phones import read_lexicon, text_to_phone_ids
from ..text import VOCABULARY, normalize_text
from .augment import AugmentConfig
from .data import FeatureDataset, bucket_batches, load_audio_cache
from .model import AcousticModel, model_from_bundle, save_bundle
from .train_config import TrainConfig, TrainSetupError


@dataclass
class Batch:
    feats: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    phone_targets: torch.Tensor
    phone_lengths: torch.Tensor
    """Zero for utterances without phone targets (a word outside the lexicon)."""


def collate(items: list[tuple[np.ndarray, list[int], list[int] | None]]) -> Batch:
    lengths = torch.tensor([len(f) for f, _, _ in items])
    feats = torch.zeros(len(items), int(lengths.max()), items[0][0].shape[1])
    for row, (f, _, _) in enumerate(items):
        feats[row, : len(f)] = torch.from_numpy(f)
    targets = torch.tensor([t for _, ids, _ in items for t in ids], dtype=torch.long)
    phones = [p or [] for _, _, p in items]
    return Batch(feats, lengths, targets, torch.tensor([len(ids) for _, ids, _ in items]),
                 torch.tensor([t for p in phones for t in p], dtype=torch.long),
                 torch.tensor([len(p) for p in phones]))


class EpochBatches(IterableDataset):
    """Length-bucketed batches of every epoch from ``first_epoch`` on, as (epoch, Batch).

    One iterable over all epochs lets the data-loader workers live for the whole run
    instead of restarting at every epoch boundary.
    """

    def __init__(self, dataset: FeatureDataset, durations: list[float], weights: list[float],
                 batch_seconds: float, seed: int, first_epoch: int, epochs: int, rank: int, world: int) -> None:
        self.dataset, self.durations, self.weights = dataset, durations, weights
        self.batch_seconds, self.seed = batch_seconds, seed
        self.first_epoch, self.epochs, self.rank, self.world = first_epoch, epochs, rank, world

    def __iter__(self) -> Iterator[tuple[int, Batch]]:
        worker = get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        for epoch in range(self.first_epoch, self.epochs):
            batches = bucket_batches(self.durations, self.weights, self.batch_seconds,
                                     random.Random(self.seed + epoch))
            batches = batches[self.rank::self.world][: len(batches) // self.world]
            for keys in batches[worker_id::workers]:
                yield epoch, collate([self.dataset[(i, epoch)] for i in keys])


def feature_stats(utterances: list[Utterance], audio: list[np.ndarray], frontend: FrontendConfig,
                  limit: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Global mean and standard deviation of log-mel features over a sample of utterances."""
    extractor = LogMel(frontend)
    picks = random.Random(0).sample(range(len(utterances)), min(limit, len(utterances)))
    feats = np.concatenate([extractor.log_mel(audio[i].astype(np.float32) / 32768.0) for i in picks])
    return feats.mean(axis=0), feats.std(axis=0) + 1e-5


def greedy_transcripts(model: AcousticModel, dataset: FeatureDataset, device: torch.device,
                       chunked: bool) -> list[str]:
    """Decode every dataset item one at a time (exactly as offline or streaming inference)."""
    decoder = GreedyDecoder(FrontendConfig().frame_shift(model.config.stack), VOCABULARY)
    texts = []
    model.eval()
    with torch.no_grad():
        for index in range(len(dataset)):
            feats = dataset[(index, 0)][0]
            x = torch.from_numpy(feats)[None].to(device)
            lengths = torch.tensor([len(feats)])
            log_probs = model.forward_chunked(x, lengths)[0] if chunked else model.forward_full(x, lengths)[0]
            texts.append(decode_matrix(decoder, log_probs[0].float().cpu().numpy()).text)
    model.train()
    return texts


def evaluate(model: AcousticModel, dataset: FeatureDataset, device: torch.device) -> dict[str, float]:
    """Greedy WER and CER of the character head, offline and streaming."""
    from ..scoring import score
    refs = [normalize_text(u.text) for u in dataset.utterances]
    figures = {}
    for mode, chunked in (("offline", False), ("streaming", True)):
        result = score(refs, greedy_transcripts(model, dataset, device, chunked))
        figures[f"{mode}_wer"], figures[f"{mode}_cer"] = result["wer"], result["cer"]
    return figures


def learning_rate(peak: float, warmup: int, step: int, progress: float) -> float:
    """Linear warm-up, then cosine decay to 5 % over the time budget."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def split_repeat(spec: str) -> tuple[str, float]:
    """``MANIFEST:REPEAT`` -> (manifest, repeat); a spec without a numeric suffix repeats once."""
    head, separator, tail = spec.rpartition(":")
    if separator and re.fullmatch(r"\d+(\.\d*)?|\.\d+", tail):
        return head, float(tail)
    return spec, 1.0


def load_training_sets(specs: list[str], workers: int,
                       max_seconds: float) -> tuple[list[Utterance], list[float], list[np.ndarray]]:
    """Utterances of every ``MANIFEST[:REPEAT]`` up to ``max_seconds`` long, their repeat weights and their audio."""
    utterances, weights = [], []
    for spec in specs:
        path, repeat = split_repeat(spec)
        rows = [u for u in read_manifest(path) if 0.3 < u.duration <= max_seconds and normalize_text(u.text)]
        utterances += rows
        weights += [repeat] * len(rows)
    return utterances, weights, load_audio_cache(utterances, workers)


def describe_state(state: dict[str, torch.Tensor]) -> str:
    """The size of the model whose weights ``state`` holds, in the words of the training options."""
    layers = sum(1 for name in state if re.fullmatch(r"forward_lstms\.\d+\.weight_hh_l0", name))
    hidden = state["forward_lstms.0.weight_hh_l0"].shape[1] if layers else 0
    return f"--hidden {hidden} --layers {layers}" + (" --lexicon" if "phone_head.weight" in state else "")


def read_checkpoint(path: Path, config: ModelConfig, device: torch.device) -> dict | None:
    """The checkpoint to resume from, if ``path`` exists; refused when it holds another model size."""
    if not path.exists():
        return None
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    wanted = AcousticModel(config).state_dict()
    found = checkpoint["model"]
    if wanted.keys() != found.keys() or any(wanted[name].shape != found[name].shape for name in wanted):
        raise TrainSetupError(f"{path} holds a model of another size ({describe_state(found)}; this command: "
                              f"{describe_state(wanted)}): give another --out, or delete the folder to start over")
    return checkpoint


def _agree_to_stop(stop: bool, world: int, device: torch.device) -> bool:
    """All ranks stop on the same step, or DistributedDataParallel would wait forever."""
    if world == 1:
        return stop
    flag = torch.tensor([float(stop)], device=device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def phone_ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, batch: Batch, device: torch.device) -> torch.Tensor:
    """Mean per-utterance phone CTC loss over the utterances that have phone targets."""
    has = batch.phone_lengths > 0
    if not bool(has.any()):
        return log_probs.sum() * 0.0
    losses = nn.functional.ctc_loss(log_probs.float().transpose(0, 1), batch.phone_targets.to(device),
                                    lengths, batch.phone_lengths.to(device), blank=0, reduction="none",
                                    zero_infinity=True)
    mask = has.to(device).float()
    return (losses / batch.phone_lengths.clamp(min=1).to(device) * mask).sum() / mask.sum()


class Trainer:
    """One training run: the model, its optimizer, the data, the schedule and the logs."""

    LOG_COLUMNS = ("step", "epoch", "minutes", "audio_hours_seen", "loss", "phone_loss", "lr", "steps_per_s",
                   "audio_s_per_wall_s", "offline_wer", "offline_cer", "streaming_wer", "streaming_cer")

    def __init__(self, args: TrainConfig) -> None:
        self.args = args
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = torch.device(args.device)
        if self.world > 1:
            torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        self.checkpoint_path = args.out / "checkpoint.pt"
        checkpoint = read_checkpoint(self.checkpoint_path, args.model_config(), self.device)
        args.out.mkdir(parents=True, exist_ok=True)
        self.frontend = FrontendConfig()
        self.utterances, self.weights, audio = load_training_sets(args.train, max(1, args.workers), args.max_seconds)
        phone_targets = None
        if args.lexicon:
            lexicon = read_lexicon(args.lexicon)
            phone_targets = [text_to_phone_ids(u.text, lexicon) for u in self.utterances]
        self.model = AcousticModel(args.model_config()).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.lr, weight_decay=1e-2)
        self.step, self.epoch, trained_seconds, self.best = 0, 0, 0.0, float("inf")
        if checkpoint is not None:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.step, self.epoch = int(checkpoint["step"]), int(checkpoint["epoch"])
            trained_seconds, self.best = float(checkpoint["trained_seconds"]), float(checkpoint["best"])
            if self.rank == 0:
                print(f"resuming {self.checkpoint_path}: step {self.step}, epoch {self.epoch}, "
                      f"{trained_seconds / 60:.1f} of {args.max_minutes:g} minutes trained", file=sys.stderr,
                      flush=True)
        elif args.init:
            self.load_init(args.init)
        else:
            mean, std = feature_stats(self.utterances, audio, self.frontend)
            self.model.feat_mean.copy_(torch.from_numpy(mean))
            self.model.feat_std.copy_(torch.from_numpy(std))
        self.wrapped = nn.parallel.DistributedDataParallel(self.model) if self.world > 1 else self.model
        self.dataset = FeatureDataset(self.utterances, audio, self.frontend, self.augment_config(),
                                      seed=args.seed, phone_targets=phone_targets)
        self.dev = None
        if args.dev and self.rank == 0:
            dev_rows = read_manifest(args.dev)[: args.eval_limit or None]
            self.dev = FeatureDataset(dev_rows, load_audio_cache(dev_rows, max(1, args.workers)), self.frontend)
        self.train_config = args.to_dict()
        self.info = {"train_hours": round(sum(u.duration for u in self.utterances) / 3600, 3),
                     "manifests": list(args.train), "phone_weight": args.phone_weight if args.lexicon else 0.0}
        self.log_path = args.out / "train_log.tsv"
        if self.rank == 0:
            if not self.log_path.exists():
                self.log_path.write_text("\t".join(self.LOG_COLUMNS) + "\n")
            print("\t".join(self.LOG_COLUMNS), flush=True)
        self.start = time.time() - trained_seconds
        self._reset_window()

    def load_init(self, path: Path) -> None:
        """Start from a bundle's weights. A bundle with fewer layers grows: its layers and heads are
        kept and the layers above them start from random weights (layer-wise pretraining: a shallow
        network leaves the CTC blank plateau far sooner than a deep one from random weights)."""
        source = model_from_bundle(load_bundle(path))
        grown = range(source.config.layers, self.model.config.layers)
        new = ("phone_head.",) + tuple(f"{side}_lstms.{i}." for side in ("forward", "backward") for i in grown)
        try:
            missing, _ = self.model.load_state_dict(source.state_dict(), strict=False)
        except RuntimeError as error:
            raise TrainSetupError(f"--init {path} does not fit this model: {str(error).splitlines()[-1].strip()}")
        if source.config.layers > self.model.config.layers or any(not name.startswith(new) for name in missing):
            raise TrainSetupError(f"--init {path} does not fit this model ({describe_state(source.state_dict())}; "
                                  f"this command: {describe_state(self.model.state_dict())})")

    def _reset_window(self) -> None:
        self.losses: list[float] = []
        self.phone_losses: list[float] = []
        self.window_audio, self.window_start, self.window_steps = 0.0, time.time(), 0

    def save(self) -> None:
        """The resumable checkpoint and the latest bundle, both written atomically."""
        temporary = self.checkpoint_path.with_suffix(".tmp")
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                    "epoch": self.epoch, "trained_seconds": time.time() - self.start, "best": self.best}, temporary)
        temporary.replace(self.checkpoint_path)
        save_bundle(self.args.out / "last.safetensors", self.model, self.frontend, {**self.info, "step": self.step},
                    train=self.train_config)
        if self.args.keep_snapshots:
            self.save_snapshot()

    def save_snapshot(self) -> None:
        """A bundle of this step in OUT/snapshots/, keeping the newest ``--keep-snapshots``."""
        folder = self.args.out / "snapshots"
        folder.mkdir(exist_ok=True)
        save_bundle(folder / f"step{self.step:08d}.safetensors", self.model, self.frontend,
                    {**self.info, "step": self.step}, train=self.train_config)
        for old in sorted(folder.glob("step*.safetensors"))[: -self.args.keep_snapshots]:
            old.unlink()

    def log(self, figures: dict[str, float]) -> None:
        elapsed = max(time.time() - self.window_start, 1e-9)
        mean = lambda values: f"{np.mean(values):.4f}" if values else ""  # noqa: E731
        values = {"step": self.step, "epoch": self.epoch, "minutes": f"{(time.time() - self.start) / 60:.2f}",
                  "audio_hours_seen": f"{self.window_audio / 3600:.3f}", "loss": mean(self.losses),
                  "phone_loss": mean(self.phone_losses), "lr": f"{self.optimizer.param_groups[0]['lr']:.2e}",
                  "steps_per_s": f"{self.window_steps / elapsed:.3f}",
                  "audio_s_per_wall_s": f"{self.window_audio / elapsed:.1f}",
                  **{key: f"{value:.4f}" for key, value in figures.items()}}
        row = "\t".join(str(values.get(column, "")) for column in self.LOG_COLUMNS)
        with open(self.log_path, "a") as handle:
            handle.write(row + "\n")
        print(row, flush=True)
        self._reset_window()

    def evaluate_and_keep_best(self) -> None:
        """Score dev offline and streaming; keep the bundle with the best streaming WER."""
        figures = evaluate(self.model, self.dev, self.device)
        self.log(figures)
        if figures["streaming_wer"] < self.best:
            self.best = figures["streaming_wer"]
            save_bundle(self.args.out / "best.safetensors", self.model, self.frontend,
                        {**self.info, "step": self.step, **figures}, train=self.train_config)

    def augment_config(self) -> AugmentConfig:
        """The augmentation of this run's options: degradations scaled by ``--augment``, speed, warp, masks."""
        args = self.args
        config = AugmentConfig(p_speed=args.speed_prob, p_warp=args.warp_prob, spec_masks=args.spec_augment)
        return config.scaled(args.augment)

    def train_step(self, batch: Batch, mode_rng: random.Random) -> None:
        args, device = self.args, self.device
        feats = batch.feats.to(device, non_blocking=True)
        chunk, right = None, None
        if mode_rng.random() >= args.p_full:
            chunk, right = mode_rng.randint(6, 16), mode_rng.randint(0, 12)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            log_probs, phone_log_probs, out_lengths = self.wrapped(feats, batch.lengths.to(device), chunk, right)
        loss = nn.functional.ctc_loss(log_probs.float().transpose(0, 1), batch.targets.to(device), out_lengths,
                                      batch.target_lengths.to(device), blank=0, zero_infinity=True)
        total = loss
        if phone_log_probs is not None:
            phone_loss = phone_ctc_loss(phone_log_probs, out_lengths, batch, device)
            total = loss + args.phone_weight * phone_loss
            self.phone_losses.append(phone_loss.item())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()
        self.step += 1
        self.window_steps += 1
        self.losses.append(loss.item())
        self.window_audio += float(batch.lengths.sum()) * self.frontend.hop_seconds

    def run(self) -> None:
        args = self.args
        budget = args.max_minutes * 60
        batches = EpochBatches(self.dataset, [u.duration for u in self.utterances], self.weights,
                               args.batch_seconds, args.seed, self.epoch, args.epochs, self.rank, self.world)
        loader = DataLoader(batches, batch_size=None, num_workers=args.workers,
                            prefetch_factor=4 if args.workers else None)
        mode_rng = random.Random(args.seed * 1000 + self.rank + self.step)
        last_checkpoint = last_eval = time.time()
        for epoch, batch in loader:
            self.epoch = epoch
            progress = (time.time() - self.start) / budget
            if _agree_to_stop(progress >= 1.0, self.world, self.device):
                break
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(args.lr, args.warmup, self.step, progress)
            self.train_step(batch, mode_rng)
            if self.rank:
                continue
            if time.time() - self.window_start > args.log_minutes * 60:
                self.log({})
            if self.dev is not None and time.time() - last_eval > args.eval_minutes * 60:
                self.evaluate_and_keep_best()
                last_eval = time.time()
            if time.time() - last_checkpoint > args.checkpoint_minutes * 60:
                self.save()
                last_checkpoint = time.time()
        else:
            self.epoch = args.epochs
        if self.rank == 0:
            if self.dev is not None:
                self.evaluate_and_keep_best()
            self.save()
            print(f"saved {self.checkpoint_path} at step {self.step}", flush=True)
        if self.world > 1:
            torch.distributed.destroy_process_group()


def resolve_device(config: TrainConfig) -> TrainConfig:
    """``config`` with its device chosen (cuda where available, else cpu) and checked against this torch."""
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        build = f"torch {torch.__version__} has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise TrainSetupError(f"--device {device}: {build}; train with --device cpu")
    if config.bf16 and not device.startswith("cuda"):
        raise TrainSetupError("--bf16 needs --device cuda: torch's CPU LSTM has no bf16 kernel")
    return replace(config, device=device)


def main(config: TrainConfig) -> None:
    """Train as ``config`` says (``speechlstm train`` parses it; under torchrun, one process per rank)."""
    Trainer(resolve_device(config)).run()
