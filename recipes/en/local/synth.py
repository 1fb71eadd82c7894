#!/usr/bin/env python3
"""Render TTS prompts with every installed English voice into a synthetic training set.

Real speech is scarce (about three hours), so the acoustic model needs many
synthetic speakers. This tool cycles through all usable English voices of the
engines that recipes/en/local/install_tts.sh installs, varies speaking rate, pitch and
voice parameters per utterance, trims silence, encodes low-bitrate 16 kHz mono
Ogg Opus (so the set stays small enough to ship), and writes a manifest in the
same TSV format as $SHARED/data/train.tsv (default ../shared). Everything is deterministic
given --seed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import soundfile

PROMPTS = Path(os.environ.get("SHARED", "../shared")) / "text" / "tts_prompts.tsv.gz"
ESPEAK_VARIANT_DIR = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data/voices/!v")
MBROLA_DIR = Path("/usr/share/mbrola")
FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")
RHVOICE_DIR = Path("/usr/share/RHVoice/voices")
VALID_TEXT = re.compile(r"^[A-Z']+( [A-Z']+)*$")
MANIFEST_HEADER = "path\tduration\tspeaker\tsource\tlicense\ttext\n"

ESPEAK_LICENSE = "GPL-3.0-or-later"
ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
# Human-sounding variants only; robotic/whisper/effect variants would teach the
# model sounds that never occur in real speech.
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "Alex", "Alicia", "Andrea", "Andy",
                   "Annie", "Denis", "Gene", "Hugo", "Jacky", "Lee", "Michael", "Mike",
                   "adam", "anika", "aunty", "belinda", "benjamin", "caleb", "david", "ed",
                   "edward", "grandma", "grandpa", "iven", "iven2", "john", "linda", "max",
                   "norbert", "paul", "quincy", "rob", "robert", "shelby", "steph", "travis",
                   "victor", "zac"]
ESPEAK_SLOTS = 10  # round-robin slots for espeak-ng variants vs one per other voice

# voice -> approximate mean F0 (Hz), used as the centre of per-utterance pitch variation
FLITE_VOICES = {"kal": 105.0, "kal16": 105.0, "awb": 110.0, "rms": 95.0, "slt": 170.0}
FLITE_LICENSE = "BSD-like-CMU-Flite"
FESTIVAL_VOICES = {
    # name: (voice dir, license, is a diphone voice with LR intonation)
    "kal_diphone": ("english/kal_diphone", "Festival-CSTR-CMU-MIT-like", True),
    "ked_diphone": ("english/ked_diphone", "Festival-CSTR-CMU-MIT-like", True),
    "cmu_us_slt_arctic_hts": ("us/cmu_us_slt_arctic_hts", "BSD-3-Clause-CMU-ARCTIC", False),
}
PICO_VOICES = ["en-US", "en-GB"]
PICO_LICENSE = "Apache-2.0"
# evgeniy-eng and lyubov are CC-BY-NC-ND-4.0, which rules out training a model on them.
RHVOICE_VOICES = ["alan", "bdl", "clb", "slt"]
RHVOICE_LICENSE = "LGPL-2.1-or-later"
# us3 is left out: it lacks diphones for espeak-ng's O2 vowel ("on", "long") and
# mbrola replaces them with silence, so words would lose their vowel.
MBROLA_VOICES = {"us1": "mb-us1", "us2": "mb-us2", "en1": "mb-en1"}
MBROLA_LICENSE = "MBROLA-database-no-sale"


@dataclass(frozen=True)
class Voice:
    """One round-robin slot: an engine plus a voice (espeak-ng picks its variant per utterance)."""

    engine: str
    name: str
    license: str


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to render one utterance, so workers share no state."""

    index: int
    voice: Voice
    text: str
    seed: int
    out_dir: str
    bitrate: str


def available_voices() -> list[Voice]:
    """List the round-robin slots for voices whose engine and data are installed."""
    slots: list[Voice] = []
    if shutil.which("espeak-ng"):
        slots += [Voice("espeak-ng", "variants", ESPEAK_LICENSE)] * ESPEAK_SLOTS
        if shutil.which("mbrola"):
            slots += [Voice("mbrola", name, MBROLA_LICENSE) for name in MBROLA_VOICES
                      if (MBROLA_DIR / name).is_dir()]
    if shutil.which("flite"):
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split()
        slots += [Voice("flite", name, FLITE_LICENSE) for name in FLITE_VOICES if name in listed]
    if shutil.which("text2wave"):
        slots += [Voice("festival", name, lic) for name, (sub, lic, _) in FESTIVAL_VOICES.items()
                  if (FESTIVAL_VOICE_DIR / sub).is_dir()]
    if shutil.which("pico2wave"):
        slots += [Voice("pico", name, PICO_LICENSE) for name in PICO_VOICES]
    if shutil.which("RHVoice-test"):
        slots += [Voice("rhvoice", name, RHVOICE_LICENSE) for name in RHVOICE_VOICES
                  if (RHVOICE_DIR / name).is_dir()]
    return slots


def load_prompts(max_words: int, min_words: int) -> list[str]:
    """Read the normalized prompt column, keeping prompts short enough for training batches."""
    prompts = []
    with gzip.open(PROMPTS, "rt", encoding="utf-8") as f:
        next(f)
        for line in f:
            text = line.rstrip("\n").split("\t")[2]
            if VALID_TEXT.match(text) and min_words <= len(text.split()) <= max_words:
                prompts.append(text)
    return prompts


def render_espeak(text: str, rng: random.Random, rate: float, wav: str) -> str:
    """Render with a random espeak-ng accent+variant; returns the speaker id."""
    variants = [v for v in ESPEAK_VARIANTS if (ESPEAK_VARIANT_DIR / v).exists()]
    voice = f"{rng.choice(ESPEAK_ACCENTS)}+{rng.choice(variants)}"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(round(170 * rate)),
                    "-p", str(rng.randint(25, 75)), "-w", wav, text], check=True)
    return f"espeak-ng-{voice}"


def render_mbrola(name: str, text: str, rng: random.Random, rate: float, wav: str) -> str:
    """Render an MBROLA diphone voice through espeak-ng's front end."""
    subprocess.run(["espeak-ng", "-v", MBROLA_VOICES[name], "-s", str(round(160 * rate)),
                    "-p", str(rng.randint(30, 70)), "-w", wav, text], check=True)
    return f"mbrola-{name}"


def render_flite(name: str, text: str, rng: random.Random, rate: float, wav: str) -> str:
    """Render with flite, stretching durations and moving the F0 target."""
    f0 = FLITE_VOICES[name] * rng.uniform(0.85, 1.2)
    subprocess.run(["flite", "-voice", name, "--setf", f"duration_stretch={1 / rate:.3f}",
                    "--setf", f"int_f0_target_mean={f0:.1f}", "-t", text, "-o", wav], check=True)
    return f"flite-{name}"


def render_festival(name: str, text: str, rng: random.Random, rate: float, wav: str,
                    tmp: str) -> str:
    """Render with festival's text2wave.

    Diphone voices take Duration_Stretch and a new F0 mean and range; the HTS voice
    ignores both and only honours hts_engine's speed factor (its -fm pitch shift is
    ignored by festival too).
    """
    txt = os.path.join(tmp, "in.txt")
    Path(txt).write_text(text + "\n", encoding="utf-8")
    cmd = ["text2wave", "-eval", f"(voice_{name})"]
    if FESTIVAL_VOICES[name][2]:
        mean, std = 105 * rng.uniform(0.85, 1.25), rng.uniform(10, 25)
        cmd += ["-eval", f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})",
                "-eval", f"(set! int_lr_params '((target_f0_mean {mean:.1f}) "
                f"(target_f0_std {std:.1f}) (model_f0_mean 170) (model_f0_std 34)))"]
    else:
        cmd += ["-eval",
                f"(set! hts_engine_params (append hts_engine_params '((\"-r\" {rate:.3f}))))"]
    subprocess.run(cmd + [txt, "-o", wav], check=True, capture_output=True)
    return f"festival-{name}"


def render_pico(name: str, text: str, rng: random.Random, rate: float, wav: str) -> str:
    """Render with SVOX Pico, whose only rate/pitch controls are its markup tags."""
    markup = (f"<speed level='{round(100 * rate)}'><pitch level='{rng.randint(85, 120)}'>"
              f"{text}</pitch></speed>")
    subprocess.run(["pico2wave", "-l", name, "-w", wav, markup], check=True)
    return f"pico-{name}"


def render_rhvoice(name: str, text: str, rng: random.Random, rate: float, wav: str) -> str:
    """Render with RHVoice; its rate and pitch flags are percentages around 100."""
    subprocess.run(["RHVoice-test", "-p", name, "-r", str(round(100 * rate)),
                    "-t", str(rng.randint(85, 115)), "-o", wav],
                   input=text, text=True, check=True, capture_output=True)
    return f"rhvoice-{name}"


def render(job: Job) -> tuple[int, str, float, str, str]:
    """Synthesize, trim, normalize and encode one utterance; returns its manifest fields.

    Engines get lower-case text because several read upper-case words as acronyms.
    """
    rng = random.Random(f"{job.seed}:{job.index}")
    rate = rng.uniform(0.85, 1.25)
    text = job.text.lower()
    rel = f"audio/{job.index:06d}.opus"
    with tempfile.TemporaryDirectory() as tmp:
        raw, clean = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "clean.wav")
        engine, name = job.voice.engine, job.voice.name
        if engine == "espeak-ng":
            speaker = render_espeak(text, rng, rate, raw)
        elif engine == "mbrola":
            speaker = render_mbrola(name, text, rng, rate, raw)
        elif engine == "flite":
            speaker = render_flite(name, text, rng, rate, raw)
        elif engine == "festival":
            speaker = render_festival(name, text, rng, rate, raw, tmp)
        elif engine == "pico":
            speaker = render_pico(name, text, rng, rate, raw)
        else:
            speaker = render_rhvoice(name, text, rng, rate, raw)
        lead, trail = rng.uniform(0.05, 0.2), rng.uniform(0.05, 0.2)
        # -R: repeatable dither, so the same seed gives byte-identical files
        subprocess.run(["sox", "-R", raw, "-b", "16", clean,
                        "remix", "-", "gain", "-3", "rate", "16k",
                        "silence", "1", "0.02", "-50d", "reverse",
                        "silence", "1", "0.02", "-50d", "reverse",
                        "pad", f"{lead:.3f}", f"{trail:.3f}",
                        "gain", "-n", f"{-rng.uniform(1, 8):.1f}"], check=True)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", clean,
                        "-c:a", "libopus", "-b:a", job.bitrate, "-application", "voip",
                        "-frame_duration", "60", "-map_metadata", "-1",
                        "-fflags", "+bitexact", "-flags:a", "+bitexact",
                        os.path.join(job.out_dir, rel)], check=True)
    duration = soundfile.info(os.path.join(job.out_dir, rel)).duration
    return job.index, rel, duration, speaker, job.voice.license


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description="Synthesize a TTS training set (16 kHz mono Ogg Opus + manifest.tsv) from "
                    f"{PROMPTS}, cycling through every installed English voice with "
                    "per-utterance rate/pitch/voice variation. Install engines with "
                    "recipes/en/local/install_tts.sh.")
    p.add_argument("--out", type=Path,
                   help="output directory (gets audio/ and manifest.tsv; must be empty or new)")
    p.add_argument("--hours", type=float, default=1.0, help="target total audio in hours")
    p.add_argument("--seed", type=int, default=1,
                   help="seed for prompt order and all voice parameters (same seed, same set)")
    p.add_argument("--voices", default="",
                   help="comma-separated substrings; keep only voices whose 'engine-name' "
                        "contains one (e.g. 'flite,festival-kal,espeak-ng')")
    p.add_argument("--bitrate", default="9k",
                   help="Opus bitrate passed to ffmpeg; libopus drops to narrowband below 9k")
    p.add_argument("--max-mb", type=float, default=0.0,
                   help="also stop once the audio files take this many MB on disk (0: no cap)")
    p.add_argument("--max-words", type=int, default=20, help="skip longer prompts")
    p.add_argument("--min-words", type=int, default=8,
                   help="skip shorter prompts (longer files waste less disk per second)")
    p.add_argument("--workers", type=int, default=2, help="synthesis processes")
    p.add_argument("--list-voices", action="store_true",
                   help="print the usable voices with their licenses and exit")
    return p.parse_args()


def main() -> None:
    """Render utterances batch by batch, in index order, until the target duration is met."""
    args = parse_args()
    slots = available_voices()
    if args.voices:
        wanted = args.voices.split(",")
        slots = [v for v in slots if any(w in f"{v.engine}-{v.name}" for w in wanted)]
    if args.list_voices:
        for v in dict.fromkeys(slots):
            print(f"{v.engine}\t{v.name}\t{v.license}")
        return
    if args.out is None:
        sys.exit("--out is required")
    if not slots:
        sys.exit("no usable voices (run recipes/en/local/install_tts.sh, check --voices)")
    prompts = load_prompts(args.max_words, args.min_words)
    random.Random(args.seed).shuffle(prompts)
    (args.out / "audio").mkdir(parents=True, exist_ok=True)
    if any((args.out / "audio").iterdir()):
        sys.exit(f"{args.out}/audio is not empty")
    target, total, rows, index, disk = args.hours * 3600, 0.0, [], 0, 0
    max_bytes = args.max_mb * 1e6 if args.max_mb > 0 else float("inf")
    start = time.time()
    batch_size = 16 * args.workers
    with Pool(args.workers) as pool:
        while total < target and disk < max_bytes and index < len(prompts):
            jobs = [Job(i, slots[i % len(slots)], prompts[i], args.seed, str(args.out),
                        args.bitrate) for i in range(index, min(index + batch_size, len(prompts)))]
            index += len(jobs)
            for i, rel, duration, speaker, lic in pool.map(render, jobs):
                if total >= target or disk >= max_bytes:
                    (args.out / rel).unlink()
                    continue
                total += duration
                disk += (args.out / rel).stat().st_blocks * 512
                rows.append(f"{rel}\t{duration:.3f}\t{speaker}\t{slots[i % len(slots)].engine}"
                            f"\t{lic}\t{prompts[i]}\n")
            elapsed = time.time() - start
            print(f"{len(rows)} utts, {total / 3600:.3f} h audio, {disk / 1e6:.2f} MB, "
                  f"{elapsed:.0f} s, "
                  f"{total / elapsed:.1f}x real time", file=sys.stderr, flush=True)
    with open(args.out / "manifest.tsv", "w", encoding="utf-8") as f:
        f.write(MANIFEST_HEADER)
        f.writelines(rows)


if __name__ == "__main__":
    main()
