#!/usr/bin/env python3
"""Make a training manifest from a LibriSpeech folder (e.g. LibriSpeech/train-clean-100).

    python recipes/en/local/import_librispeech.py /data/LibriSpeech/train-clean-100 exp/train-clean-100.tsv
    torchrun --nproc-per-node 8 -m speechlstm train --train exp/train-clean-100.tsv --device cuda ...
"""
import argparse
import os
from pathlib import Path

import soundfile as sf


def import_librispeech(root: str | Path, manifest: str | Path) -> int:
    """Write a manifest for a LibriSpeech-layout folder (SPEAKER/CHAPTER/*.trans.txt + .flac).

    Returns the number of utterances. Paths in the manifest are relative to its folder.
    """
    root, manifest = Path(root).resolve(), Path(manifest).resolve()
    rows = []
    for transcript in sorted(root.rglob("*.trans.txt")):
        speaker = transcript.parent.parent.name
        for line in transcript.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utterance_id, _, text = line.partition(" ")
            audio = transcript.parent / f"{utterance_id}.flac"
            if not audio.exists():
                continue
            duration = sf.info(str(audio)).duration
            relative = os.path.relpath(audio, manifest.parent)
            rows.append(f"{relative}\t{duration:.3f}\tlibrispeech-{speaker}\tlibrispeech\tCC-BY-4.0\t{text.strip()}")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("path\tduration\tspeaker\tsource\tlicense\ttext\n" + "".join(r + "\n" for r in rows),
                        encoding="utf-8")
    return len(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="folder with SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt and .flac files")
    parser.add_argument("manifest", help="TSV manifest to write")
    args = parser.parse_args()
    print(f"{import_librispeech(args.root, args.manifest)} utterances written to {args.manifest}")
