#!/usr/bin/env python3
"""Write a tiny corpus in ../shared's layout, so that the README's examples and the recipe run
from a clone that has no ../shared: a few seconds of speech per voice, not a corpus to learn from.

    OUT/data/train.tsv, dev.tsv   sentences of tiny_text.txt spoken by espeak-ng voices (16 kHz WAV);
                                  dev's voice is not in train
    OUT/text/lm_text.txt.xz       the page itself (tiny_text.txt: 60 lines of Louisa May Alcott's
                                  "A Garland for Girls", Project Gutenberg, public domain)
    OUT/text/vocab200k.txt        its words, most frequent first
    OUT/text/lexicon200k.txt.gz   their pronunciations by espeak-ng, in ARPAbet

Real corpora: LibriSpeech (OpenSLR 12), Mini LibriSpeech (OpenSLR 31) and Mozilla Common Voice;
recipes/en/local/import_librispeech.py turns a LibriSpeech folder into a manifest. Needs espeak-ng.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import lzma
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from speechlstm.g2p import pronounce_words

TEXT = Path(__file__).resolve().with_name("tiny_text.txt")
RATE = 16000
#: (manifest, espeak-ng voice, first line of the page, lines): short lines, 4-16 words
SETS = (("train", "en-us+m3", 0), ("train", "en-gb+f2", 4), ("train", "en-us+m1", 8), ("dev", "en-us+f3", 12))
PER_VOICE = 4
HEADER = "path\tduration\tspeaker\tsource\tlicense\ttext\n"


def short_lines(lines: list[str]) -> list[str]:
    """The page's lines of 4 to 16 words, in order (the ones worth a clip)."""
    return [line for line in lines if 4 <= len(line.split()) <= 16]


def speak(voice: str, text: str, workdir: Path) -> np.ndarray:
    """``text`` spoken by espeak-ng's ``voice``, as 16 kHz float32 samples."""
    wav = workdir / "tts.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text.lower()], check=True)
    audio, rate = sf.read(wav, dtype="float32")
    return soxr.resample(audio, rate, RATE)


def write_data(out: Path, lines: list[str]) -> None:
    """The clips and their manifests."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory() as workdir:
        for manifest, voice, first in SETS:
            for index, text in enumerate(lines[first:first + PER_VOICE]):
                name = f"{voice.replace('+', '_')}-{first + index:02d}.wav"
                audio = speak(voice, text, Path(workdir))
                sf.write(data / name, audio, RATE, subtype="PCM_16")
                rows[manifest].append(f"{name}\t{len(audio) / RATE:.3f}\tespeak-{voice}\tespeak-ng\t"
                                      f"GPL-3.0-or-later\t{text}\n")
    for manifest, lines_out in rows.items():
        (data / f"{manifest}.tsv").write_text(HEADER + "".join(lines_out))


def write_text(out: Path, lines: list[str]) -> None:
    """The LM text, its vocabulary and the vocabulary's pronunciations."""
    text = out / "text"
    text.mkdir(parents=True, exist_ok=True)
    with lzma.open(text / "lm_text.txt.xz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    counts = collections.Counter(word for line in lines for word in line.split())
    words = sorted(counts, key=lambda word: (-counts[word], word))
    (text / "vocab200k.txt").write_text("\n".join(words) + "\n")
    pronunciations = pronounce_words([word.lower() for word in words])
    with gzip.open(text / "lexicon200k.txt.gz", "wt") as handle:
        handle.writelines(f"{word}\t{' '.join(phones)}\n" for word, phones in zip(words, pronunciations) if phones)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("exp/tiny"),
                        help="folder to write (default: %(default)s)")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        parser.exit(1, "make_tiny_corpus.py: needs espeak-ng (apt-get install espeak-ng)\n")
    lines = TEXT.read_text().split("\n")[:-1]
    write_data(args.out, short_lines(lines))
    write_text(args.out, lines)
    print(f"wrote {args.out}/data (train.tsv, dev.tsv) and {args.out}/text")


if __name__ == "__main__":
    main()
