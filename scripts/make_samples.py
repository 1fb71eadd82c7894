"""Rebuild the clips in samples/ (16 kHz mono 16-bit WAV plus a .txt transcript each).

Needs ``apt-get``/``dpkg-deb`` (for Debian's pocketsphinx-testdata), ``espeak-ng`` and
``flite`` on the PATH, and the Python packages numpy, soundfile and soxr.
Run from anywhere: ``python3 scripts/make_samples.py``; it rewrites samples/.
"""
from __future__ import annotations

import argparse
import glob
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

HERE = Path(__file__).resolve().parent.parent / "samples"
RATE = 16000
TESTDATA = "usr/share/pocketsphinx/test/data"

#: Clips from pocketsphinx-testdata: output name, file inside the package, transcript.
TESTDATA_CLIPS = (
    ("sense_and_sensibility_0880", "librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
     "he was not an ill disposed young man"),
    ("sense_and_sensibility_0890", "librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
     "unless to be rather cold hearted and rather selfish is to be ill disposed"),
    ("sense_and_sensibility_0930", "librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
     "he might even have been made amiable himself"),
    ("goforward", "goforward.raw", "go forward ten meters"),
)

#: Synthesized clips: output name, engine, voice, sentence.
SYNTH_CLIPS = (
    ("espeak_kitchen_lights", "espeak-ng", "en-us",
     "please turn on the kitchen lights before the guests arrive"),
    ("flite_real_time", "flite", "slt",
     "streaming recognition should keep up with the speaker in real time"),
)

#: The three sentences of three_utterances.wav, each with its engine and voice.
THREE_UTTERANCES = (
    ("espeak-ng", "en-us", "open the window"),
    ("flite", "slt", "the train leaves at noon"),
    ("espeak-ng", "en", "my brother likes green tea"),
)
GAP_SECONDS = 1.0
EDGE_SECONDS = 0.3
#: Samples at or below this magnitude (about -60 dBFS) count as silence when trimming.
TRIM_THRESHOLD = 32


def write_clip(name: str, audio: np.ndarray, text: str) -> None:
    """Write ``NAME.wav`` (16 kHz mono PCM_16) and ``NAME.txt`` into this folder."""
    sf.write(HERE / f"{name}.wav", audio.astype(np.int16), RATE, subtype="PCM_16")
    (HERE / f"{name}.txt").write_text(text + "\n")


def read_16k(path: Path) -> np.ndarray:
    """Read a WAV file as mono int16 at 16 kHz, resampling with soxr if needed."""
    audio, rate = sf.read(path, dtype="int16", always_2d=True)
    audio = audio[:, 0]
    if rate != RATE:
        audio = soxr.resample(audio, rate, RATE)
    return audio


def synthesize(engine: str, voice: str, text: str, workdir: Path) -> np.ndarray:
    """Speak ``text`` with espeak-ng or flite and return 16 kHz int16 samples."""
    out = workdir / "tts.wav"
    if engine == "espeak-ng":
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True)
    else:
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True)
    return read_16k(out)


def trim(audio: np.ndarray) -> np.ndarray:
    """Cut leading and trailing near-silence."""
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > TRIM_THRESHOLD)
    return audio[loud[0]:loud[-1] + 1]


def extract_testdata(workdir: Path) -> Path:
    """Download and unpack pocketsphinx-testdata; return its data folder."""
    subprocess.run(["apt-get", "download", "pocketsphinx-testdata"], cwd=workdir, check=True)
    deb = glob.glob(str(workdir / "pocketsphinx-testdata_*.deb"))[0]
    subprocess.run(["dpkg-deb", "-x", deb, str(workdir / "deb")], check=True)
    return workdir / "deb" / TESTDATA


def main() -> None:
    """Build every clip."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = extract_testdata(workdir)
        for name, member, text in TESTDATA_CLIPS:
            source = data / member
            if source.suffix == ".raw":
                audio = np.fromfile(source, dtype="<i2")
            else:
                audio = read_16k(source)
            write_clip(name, audio, text)
        for name, engine, voice, text in SYNTH_CLIPS:
            write_clip(name, synthesize(engine, voice, text, workdir), text)
        edge = np.zeros(int(EDGE_SECONDS * RATE), dtype=np.int16)
        gap = np.zeros(int(GAP_SECONDS * RATE), dtype=np.int16)
        pieces = [edge]
        for i, (engine, voice, text) in enumerate(THREE_UTTERANCES):
            if i:
                pieces.append(gap)
            pieces.append(trim(synthesize(engine, voice, text, workdir)))
        pieces.append(edge)
        write_clip("three_utterances", np.concatenate(pieces),
                   "\n".join(text for _, _, text in THREE_UTTERANCES))


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog="It takes no options: it downloads pocketsphinx-testdata with apt-get, "
                                   "synthesizes the rest and overwrites the clips in samples/.").parse_args()
    main()
