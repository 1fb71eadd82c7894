#!/usr/bin/env python3
"""Make a training manifest from a LibriSpeech folder (e.g. LibriSpeech/train-clean-100).

    python recipes/en/local/import_librispeech.py /data/LibriSpeech/train-clean-100 exp/train-clean-100.tsv
    torchrun --nproc-per-node 8 -m speechlstm.nn.train --train exp/train-clean-100.tsv --device cuda ...
"""
import argparse

from speechlstm.io.manifest import import_librispeech

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("root", help="folder with SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt and .flac files")
parser.add_argument("manifest", help="TSV manifest to write")
args = parser.parse_args()
print(f"{import_librispeech(args.root, args.manifest)} utterances written to {args.manifest}")
