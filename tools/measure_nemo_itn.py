"""Whether NVIDIA's nemo_text_processing inverse normalizer would do for written numbers here:
its build time, its time per sentence on CPU, whether it imports torch, and what it writes,
beside speechlstm.numbers on the same phrases.

    python -m venv --system-site-packages /tmp/nemo && /tmp/nemo/bin/pip install nemo_text_processing
    PYTHONPATH=. nice -n 10 /tmp/nemo/bin/python tools/measure_nemo_itn.py
"""
from __future__ import annotations

import sys
import tempfile
import time

from speechlstm.numbers import write_numbers

PHRASES = ["twelve thirty", "nineteen eighty four", "three point five percent", "the twenty first of may",
           "it cost five dollars and fifty cents", "he was the third man", "go for twelve", "one of the best",
           "i have two hundred and fifty three books"]


def main() -> None:
    started = time.perf_counter()
    from nemo_text_processing.inverse_text_normalization.inverse_normalize import InverseNormalizer
    print(f"import: {time.perf_counter() - started:.1f} s; torch imported: {'torch' in sys.modules}")
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        normalizer = InverseNormalizer(lang="en", cache_dir=cache)
        print(f"grammar build: {time.perf_counter() - started:.1f} s")
        outputs = [normalizer.inverse_normalize(phrase, verbose=False) for phrase in PHRASES]
        started = time.perf_counter()
        for phrase in PHRASES:
            normalizer.inverse_normalize(phrase, verbose=False)
        nemo_ms = (time.perf_counter() - started) * 1000 / len(PHRASES)
    started = time.perf_counter()
    ours = [" ".join(t for t in write_numbers(phrase.split()) if t) for phrase in PHRASES]
    ours_ms = (time.perf_counter() - started) * 1000 / len(PHRASES)
    print(f"ms per phrase: nemo {nemo_ms:.1f}, speechlstm.numbers {ours_ms:.3f}\n")
    print("| spoken | nemo_text_processing | speechlstm.numbers |\n|---|---|---|")
    for phrase, nemo, mine in zip(PHRASES, outputs, ours):
        print(f"| {phrase} | {nemo} | {mine} |")


if __name__ == "__main__":
    main()
