#!/usr/bin/env python3
"""What hotwords do on a manifest: recall of the boosted words, false alarms and WER, per head and boost.

Why: the default boost must suit the default decoder, and words outside the lexicon reach the
phone head only through espeak-ng's pronunciations (speechlstm.g2p); this measures both. The
hotword list is a domain vocabulary, as a user would give it: every word of the references
that is rare for the LM (past rank ``--rank`` of its unigrams, or not in it at all), all given
at once. Recall counts the list's words in the references that the hypotheses contain (per
utterance, as bags of words); false alarms count list words a hypothesis has beyond its
reference. With ``--per-utterance`` each utterance gets only its own rare words (a stream's
hotwords, as a caller who knows the topic would pass them). Offline log-probs of each head are
computed once.

    python tools/measure_hotwords.py --boosts 0 8 12 16
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from speechlstm import Recognizer
from speechlstm.decode import build_decoder, decode_matrix
from speechlstm.decode.flashlight import read_unigrams
from speechlstm.io.audio import read_audio
from speechlstm.io.manifest import read_manifest
from speechlstm.scoring import score
from speechlstm.text import normalize_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("../shared/data/dev.tsv"))
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--rank", type=int, default=10000, help="LM words past this rank count as rare")
    parser.add_argument("--heads", nargs="+", default=["chars", "phones"])
    parser.add_argument("--boosts", type=float, nargs="+", default=[0.0, 8.0, 12.0, 16.0])
    parser.add_argument("--per-utterance", action="store_true", help="each utterance boosts its own rare words")
    args = parser.parse_args()

    utterances = read_manifest(args.manifest)
    references = [normalize_text(u.text) for u in utterances]
    recognizer = Recognizer.from_bundle(args.model)
    lm_words, _ = read_unigrams(_lm_path(recognizer))
    common = set(lm_words[:args.rank])
    in_lm = set(lm_words)
    hotwords = sorted({w for ref in references for w in ref.split() if w not in common and len(w) > 2})
    oov = [w for w in hotwords if w not in in_lm]
    targets = sum(sum(1 for w in ref.split() if w in hotwords) for ref in references)
    print(f"{len(hotwords)} hotwords ({len(oov)} outside the LM) with {targets} occurrences in "
          f"{len(references)} references")
    extract = recognizer.bundle.feature_extractor()
    features = [extract(read_audio(u.path, recognizer.sample_rate)) for u in utterances]
    print("| head | boost | WER % | hotword recall % | recall, words outside the LM % | false alarms | CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for head in args.heads:
        log_probs = [recognizer.backend.full(f, head) for f in features]
        for boost in args.boosts:
            start = time.process_time()

            def decoder(words: list[str]):
                options = {"head": head, "hotwords": tuple((w, boost) for w in words) if boost else ()}
                return build_decoder(recognizer.bundle, replace(recognizer.config.decoding, **options), args.model,
                                     heads=recognizer.backend.heads)

            if args.per_utterance:
                hyps = [decode_matrix(decoder([w for w in hotwords if w in ref.split()]), lp).text
                        for ref, lp in zip(references, log_probs)]
            else:
                shared = decoder(hotwords)
                hyps = [decode_matrix(shared, lp).text for lp in log_probs]
            hits = hits_oov = wanted_oov = alarms = 0
            for ref, hyp in zip(references, hyps):
                said, heard = Counter(ref.split()), Counter(hyp.split())
                for word in hotwords:
                    hits += min(said[word], heard[word])
                    alarms += max(0, heard[word] - said[word])
                    if word in oov:
                        hits_oov += min(said[word], heard[word])
                        wanted_oov += said[word]
            wer = 100 * score(references, hyps)["wer"]
            print(f"| {head} | {boost:g} | {wer:.2f} | {100 * hits / targets:.1f} | "
                  f"{100 * hits_oov / max(wanted_oov, 1):.1f} ({wanted_oov}) | {alarms} | "
                  f"{time.process_time() - start:.1f} |", flush=True)


def _lm_path(recognizer: Recognizer) -> Path:
    from speechlstm.model_files import LM_FILE, companion_file
    lm = recognizer.config.decoding.lm
    return companion_file(recognizer.config.model, LM_FILE) if lm == "auto" else Path(lm)


if __name__ == "__main__":
    main()
