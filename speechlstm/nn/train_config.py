"""The options of the two training commands, torch-free: ``speechlstm train --help`` and
``speechlstm train-punct --help`` are built from these tables (:func:`option` fields) without
importing torch, and :mod:`.train` and :mod:`.punct` run them."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config import ModelConfig
from ..errors import UsageError
from ..phones import PHONES
from ..text import VOCABULARY
from .augment import AugmentConfig


class TrainSetupError(UsageError, ValueError):
    """A mistake in the options or the output folder, found before training starts (one line for the user)."""


def option(default: Any, help: str, **argparse_options: Any) -> Any:
    """A config field that is also a command-line option: its default, its --help text and
    anything else argparse needs (:func:`speechlstm.cli.common.add_config_options` reads them)."""
    return field(default=default, metadata={"help": help, **argparse_options})


@dataclass(frozen=True)
class TrainConfig:
    """Every training option, written once: ``speechlstm train`` builds its parser from these
    fields (``--max-minutes`` sets ``max_minutes``), and each bundle the run writes stores them
    (``Bundle.train``), so a model says how it was trained. ``device`` empty means cuda where
    available, else cpu (:func:`speechlstm.nn.train.resolve_device`)."""

    train: tuple[str, ...] = option((), "training manifest; REPEAT (may be a fraction) scales how often its "
                                    "utterances appear per epoch, e.g. native read speech :3, single words :0.3",
                                    action="append", required=True, metavar="MANIFEST[:REPEAT]")
    out: Path = option(None, "output folder", required=True, type=Path)
    dev: str | None = option(None, "development manifest, scored with greedy decoding")
    init: Path | None = option(None, "start from this bundle's weights (fine-tuning)", type=Path)
    hidden: int = option(ModelConfig.hidden, "LSTM units per direction")
    layers: int = option(ModelConfig.layers, "BiLSTM layers")
    chunk: int = option(ModelConfig.chunk, "shipped chunk size in 30 ms steps")
    right: int = option(ModelConfig.right, "shipped right context in 30 ms steps")
    dropout: float = option(ModelConfig.dropout, "dropout between layers")
    lexicon: Path | None = option(None, "ARPAbet lexicon (WORD<TAB>PHONES): adds the auxiliary phone CTC head",
                                  type=Path)
    phone_weight: float = option(0.4, "weight of the phone CTC loss beside the character loss")
    max_seconds: float = option(35.0, "leave out longer utterances (a curriculum: short ones first "
                                      "makes a model from random weights leave the CTC blank plateau sooner)")
    epochs: int = option(1000, "stop after this many epochs")
    max_minutes: float = option(60.0, "training time budget")
    batch_seconds: float = option(400.0, "padded audio per batch")
    lr: float = option(2e-3, "peak learning rate (AdamW)")
    warmup: int = option(300, "warm-up steps")
    augment: float = option(1.0, "scale of the noise/reverb/telephone/re-encoding probabilities "
                                 "(0: speed only; the frequency warp is not scaled)")
    speed_prob: float = option(AugmentConfig.p_speed, "chance of a random 0.9-1.1 speed change per utterance")
    warp_prob: float = option(AugmentConfig.p_warp, "chance of the VTLP-style frequency warp per utterance")
    spec_augment: float = option(AugmentConfig.spec_masks, "SpecAugment strength: scales the widest time and "
                                                           "frequency mask (0: off)")
    p_full: float = option(0.4, "share of batches in full mode")
    bf16: bool = option(False, "bfloat16 autocast, GPUs only: torch's CPU LSTM has no bf16 kernel "
                               "(autocast fails; bf16 weights ran 22x slower here)", action="store_true")
    workers: int = option(1, "data loader processes")
    threads: int = option(0, "torch threads (0: torch's default)")
    log_minutes: float = option(2.0, "write a log row this often")
    checkpoint_minutes: float = option(5.0, "save a checkpoint this often")
    keep_snapshots: int = option(0, "also keep the last K checkpoints as bundles in OUT/snapshots/, "
                                    "for speechlstm average (0: none)")
    eval_minutes: float = option(15.0, "score --dev this often")
    eval_limit: int = option(0, "score only the first N dev utterances")
    seed: int = option(1, "random seed")
    device: str = option("", "cpu, cuda or cuda:N (default: cuda where available, else cpu)")

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", tuple(self.train))
        if self.keep_snapshots < 0:
            raise TrainSetupError("--keep-snapshots must be 0 or more")

    def model_config(self) -> ModelConfig:
        """The architecture these options ask for."""
        return ModelConfig(hidden=self.hidden, layers=self.layers, vocab_size=len(VOCABULARY), dropout=self.dropout,
                           chunk=self.chunk, right=self.right, phone_vocab_size=len(PHONES) if self.lexicon else 0)

    def to_dict(self) -> dict:
        """JSON values (paths as strings), as stored in bundles."""
        return {f.name: str(v) if isinstance(v := getattr(self, f.name), Path) else
                list(v) if isinstance(v, tuple) else v for f in fields(self)}


@dataclass(frozen=True)
class TaggerConfig:
    """The punctuation tagger's architecture (:class:`speechlstm.nn.punct.PunctTagger`)."""

    vocab_size: int = 20000
    word_dim: int = 96
    ngram_dim: int = 32
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.2


@dataclass(frozen=True)
class PunctTrainConfig:
    """Every ``speechlstm train-punct`` option (:func:`speechlstm.nn.punct.main` runs them)."""

    prompts: Path = option(None, "TSV.gz with ebook_id, sentence, normalized (the project's is "
                                 "../shared/text/tts_prompts.tsv.gz)", required=True, type=Path)
    out: Path = option(Path("models/punct-en.int8.onnx"), "the ONNX model to write")
    checkpoint: Path | None = option(None, "also save (and with --resume, start from) this torch file", type=Path)
    resume: bool = option(False, "continue from --checkpoint", action="store_true")
    minutes: float = option(20.0, "training time")
    hidden: int = option(TaggerConfig.hidden, "BiLSTM units per direction")
    layers: int = option(TaggerConfig.layers, "BiLSTM layers")
    vocab_size: int = option(TaggerConfig.vocab_size, "words with their own embedding (the most frequent)")
    batch: int = option(32, "runs per step")
    lr: float = option(2e-3, "learning rate")
    threads: int = option(1, "torch threads")
    seed: int = option(0, "random seed")
    fp32: bool = option(False, "export float32 instead of int8", action="store_true")

    def tagger_config(self) -> TaggerConfig:
        """The architecture these options ask for."""
        return TaggerConfig(vocab_size=self.vocab_size, hidden=self.hidden, layers=self.layers)
