#!/usr/bin/env python3
"""Decode the auxiliary phone CTC head on a manifest, to compare it with the character head.

Why: issue 11 asks to decode each head and ship what measures best. The phone head (blank,
word boundary, 39 ARPAbet phones) is decoded with flashlight-text's ``LexiconDecoder`` and
KenLM over the LM's words, each spelled as its pronunciations (up to ``--variants``, stress
removed) from an ARPAbet lexicon and closed by the word boundary; one extra boundary frame
ends every utterance, as the character decoder adds a space. Log-probs come from the torch
model in full (offline) and in chunked mode (what streaming computes) and are cached.

    python tools/decode_phone_head.py --manifest ../shared/data/dev.tsv --grid 0.5,-1 0.7,-1
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from flashlight.lib.text.decoder import (CriterionType, LexiconDecoder, LexiconDecoderOptions, SmearingMode,
                                         Trie)

from speechlstm.bundle import DEFAULT_BUNDLE, DEFAULT_LM, load_bundle
from speechlstm.decode.flashlight import load_model
from speechlstm.io.audio import read_audio
from speechlstm.io.manifest import read_manifest
from speechlstm.nn.model import model_from_bundle
from speechlstm.phones import PHONES, WORD_BOUNDARY, read_pronunciations
from speechlstm.scoring import score


def phone_log_probs(model_path: Path, paths: list[Path], cache: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Offline and chunked phone log-probs of each file (cached in ``cache``)."""
    if cache.exists():
        data = np.load(cache, allow_pickle=True)
        return list(data["offline"]), list(data["streaming"])
    bundle = load_bundle(model_path)
    model = model_from_bundle(bundle).eval()
    if not model.config.phone_vocab_size:
        raise SystemExit(f"{model_path} has no phone head")
    extract = bundle.feature_extractor()
    offline, streaming = [], []
    with torch.no_grad():
        for path in paths:
            feats = torch.from_numpy(extract(read_audio(path, bundle.sample_rate)))[None]
            lengths = torch.tensor([feats.shape[1]])
            _, full, n = model(feats, lengths)
            _, chunked, m = model(feats, lengths, chunk=model.config.chunk, right=model.config.right)
            offline.append(full[0, :n[0]].numpy())
            streaming.append(chunked[0, :m[0]].numpy())
    np.savez(cache, offline=np.array(offline, dtype=object), streaming=np.array(streaming, dtype=object))
    return offline, streaming


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("../shared/data/dev.tsv"))
    parser.add_argument("--model", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--lm", type=Path, default=DEFAULT_LM)
    parser.add_argument("--lexicon", type=Path, default=Path("../shared/text/lexicon200k.txt.gz"))
    parser.add_argument("--variants", type=int, default=3, help="pronunciations per word at most")
    parser.add_argument("--beam", type=int, default=50)
    parser.add_argument("--grid", nargs="+", default=["0.5,-1", "0.7,-1", "0.9,0"],
                        help="LM weight (natural log) and word bonus pairs")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/speechlstm-phone-logprobs.npz"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    utterances = read_manifest(args.manifest)
    offline, streaming = phone_log_probs(args.model, [u.path for u in utterances], args.cache)
    lm = load_model(args.lm)
    words = lm.words
    index = {p: i for i, p in enumerate(PHONES)}
    boundary = index[WORD_BOUNDARY]
    trie = Trie(len(PHONES), boundary)
    prons = read_pronunciations(args.lexicon)
    entries = 0
    for label, (word, logp) in enumerate(zip(words, lm.unigram)):
        for pron in prons.get(word, [])[:args.variants]:
            if all(p in index for p in pron):
                trie.insert([index[p] for p in pron] + [boundary], label, logp)
                entries += 1
    trie.smear(SmearingMode.MAX)
    print(f"{entries} pronunciations for {len(words)} LM words")
    end = np.full((1, len(PHONES)), -30.0, dtype=np.float32)
    end[0, boundary] = 0.0
    print("| LM weight | word bonus | offline WER / CER % | streaming WER / CER % | CPU s |")
    print("|---:|---:|---:|---:|---:|")
    for point in args.grid:
        alpha, beta = map(float, point.split(","))
        options = LexiconDecoderOptions(beam_size=args.beam, beam_size_token=len(PHONES), beam_threshold=25.0,
                                        lm_weight=alpha * math.log(10), word_score=beta, unk_score=-math.inf,
                                        sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC)
        cells, start = [], time.process_time()
        for matrices in (offline, streaming):
            hyps = []
            for log_probs in matrices:
                decoder = LexiconDecoder(options, trie, lm.kenlm, boundary, 0, lm.unk, [], False)
                emissions = np.ascontiguousarray(np.concatenate([log_probs.astype(np.float32), end]))
                best = decoder.decode(emissions.ctypes.data, emissions.shape[0], emissions.shape[1])[0]
                hyps.append(" ".join(words[i] for i in best.words if i >= 0))
            result = score([u.text for u in utterances], hyps)
            cells.append(f"{100 * result['wer']:.2f} / {100 * result['cer']:.2f}")
        print(f"| {alpha} | {beta} | {cells[0]} | {cells[1]} | {time.process_time() - start:.1f} |")


if __name__ == "__main__":
    main()
