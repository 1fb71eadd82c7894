#!/usr/bin/env python3
"""Compare CTC decoders and language models on the same cached log-probabilities.

The acoustic model (torch backend, or --backend's, 1 thread) runs once per utterance of the
manifest in offline and in streaming mode; its log-probabilities are cached in an npz file
(recomputed when the model, the backend, the manifest or --limit change), so every decoder,
LM and weight setting below costs only decoding time.

Decoders (--decoders):
  greedy   best path, no LM (a reference row)
  ours     speechlstm's CTC prefix beam search (speechlstm/decode/beam_search.py), Python + numpy
  lexicon  flashlight-text's LexiconDecoder (speechlstm/decode/flashlight.py): KenLM, the
           lexicon is the LM's vocabulary, each word spelled with letters + the space token
  phones   the same decoder over the phone head (the default decoding of a model that has
           one): each word spelled by its pronunciations (--lexicon) + the word boundary
  lexfree  flashlight-text's LexiconFreeDecoder with the same KenLM. It scores every
           emitted character as an LM token, so it needs a character LM: with a word LM
           only one-letter words ("a", "i") match and everything else is <unk>. Shown
           because it is the other decoder flashlight offers.

LM weights are natural-log weights for every decoder (flashlight's log10 weight is the
value times ln 10); word bonuses are added per word. Each decoder and LM runs in a fresh
process, which reports the LM load time (everything before the first decode: file, trie)
and its peak RSS (with the cached log-probs loaded). Every grid point is decoded offline
(each utterance at once); the best one (lowest WER; with --stream-all every one) is also
decoded in streaming fashion, one model chunk (300 ms of audio) at a time with a partial
result after each, as a live caller does: its streaming WER and cost per chunk. Times are
CPU time of the decoding process, so other work on a busy machine does not inflate them.

    python tools/compare_decoders.py --manifest ../shared/data/dev.tsv
    python tools/compare_decoders.py --decoders lexicon --lm /tmp/lms/*.arpa.gz \\
        --lexicon-lm-weights 0.9 --lexicon-word-bonuses -1
"""
from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import LogProbRecorder, peak_rss_mb
from speechlstm.model_files import DEFAULT_BUNDLE
from speechlstm.config import CHAR_HEAD, SPELLINGS
from speechlstm.decode import decode_matrix
from speechlstm.io.manifest import read_manifest
from speechlstm.scoring import score

LN10 = float(np.log(10.0))
DECODERS = ("greedy", "ours", "lexicon", "lexfree", "phones")


def acoustic_log_probs(recognizer, paths: list[Path], mode: str, head: str = CHAR_HEAD) -> list[np.ndarray]:
    """``head``'s log-probs of each file, computed exactly as the recognizer would in ``mode``."""
    from speechlstm.io.audio import read_audio
    from speechlstm.recognizer import Recognizer
    recording = Recognizer(recognizer.bundle, recognizer.backend, recognizer.config, LogProbRecorder(head))
    outputs = []
    for path in paths:
        audio = read_audio(path, recognizer.sample_rate)
        if mode == "offline":
            outputs.append(recognizer.backend.full(recognizer.bundle.feature_extractor()(audio), head))
            continue
        stream = recording.create_stream()
        stream.accept_waveform(recognizer.sample_rate, audio)
        recording.finish(stream)
        parts = stream.decoder_state
        outputs.append(np.concatenate(parts) if parts else np.zeros((0, len(recognizer.bundle.vocabulary))))
    return outputs


def load_cache(args: argparse.Namespace) -> Path:
    """The npz cache for ``args``, computed first when missing or made from something else."""
    model = Path(args.model or DEFAULT_BUNDLE).resolve()
    manifest = Path(args.manifest).resolve()
    key = f"heads:{model}:{model.stat().st_size}:{model.stat().st_mtime}:{manifest}:{args.limit}"
    if args.backend != "torch":
        key += f":{args.backend}"
    if args.cache.is_file():
        with np.load(args.cache) as cached:
            if str(cached["key"]) == key:
                return args.cache
    from speechlstm.recognizer import Recognizer
    rows = read_manifest(manifest)[:args.limit]
    recognizer = Recognizer.from_bundle(model, backend=args.backend, threads=1)
    arrays = {"key": np.array(key), "refs": np.array([r.text for r in rows]),
              "chunk": np.array(recognizer.bundle.model.chunk), "frame_shift": np.array(recognizer.bundle.frame_shift)}
    for head in recognizer.backend.heads:
        prefix = "" if head == "chars" else f"{head}_"
        for mode in ("offline", "streaming"):
            print(f"computing {mode} {head} log-probs of {len(rows)} utterances", file=sys.stderr, flush=True)
            for i, matrix in enumerate(acoustic_log_probs(recognizer, [r.path for r in rows], mode, head)):
                arrays[f"{prefix}{mode}{i}"] = matrix.astype(np.float32)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.cache.with_name(args.cache.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(args.cache)
    return args.cache


class LexiconFreeAdapter:
    """flashlight-text's LexiconFreeDecoder behind the Decoder protocol (text only)."""

    def __init__(self, vocabulary: tuple[str, ...], lm: Path, alpha: float, beam_size: int) -> None:
        from flashlight.lib.text.decoder import CriterionType, LexiconFreeDecoder, LexiconFreeDecoderOptions
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary
        from speechlstm.decode.flashlight import _quiet_stderr
        tokens = Dictionary()
        for symbol in vocabulary:
            tokens.add_entry(symbol)
        with _quiet_stderr():
            self.lm = KenLM(str(lm), tokens)
        self.vocabulary, self.space = vocabulary, vocabulary.index(" ")
        self.make = lambda: LexiconFreeDecoder(
            LexiconFreeDecoderOptions(beam_size=beam_size, beam_size_token=len(vocabulary), beam_threshold=25.0,
                                      lm_weight=alpha * LN10, sil_score=0.0, log_add=True,
                                      criterion_type=CriterionType.CTC), self.lm, self.space, 0, [])

    def new_state(self):
        decoder = self.make()
        decoder.decode_begin()
        return decoder

    def advance(self, decoder, log_probs: np.ndarray) -> None:
        emissions = np.ascontiguousarray(log_probs, dtype=np.float32)
        decoder.decode_step(emissions.ctypes.data, *emissions.shape)

    def result(self, decoder, final: bool = False):
        from speechlstm.results import Result
        if final:
            decoder.decode_end()
        hypotheses = decoder.get_all_final_hypothesis()
        tokens = max(hypotheses, key=lambda h: h.score).tokens if hypotheses else []
        chars = [self.vocabulary[t] for i, t in enumerate(tokens) if t > 0 and (i == 0 or t != tokens[i - 1])]
        return Result(" ".join("".join(chars).split()))


def make_decoder(kind: str, lm: Path, alpha: float, beta: float, beam: int, frame_shift: float, cache: dict,
                 lexicon: Path | None = None, spelling: str = "american", pruning: dict | None = None):
    """A decoder of ``kind``; ``cache`` keeps the loaded LM between grid points; ``pruning`` holds the
    lexicon decoders' ``beam_threshold`` and ``beam_size_token``."""
    from speechlstm.text import VOCABULARY
    if kind == "greedy":
        from speechlstm.decode.greedy import GreedyDecoder
        return GreedyDecoder(frame_shift, VOCABULARY)
    if kind == "ours":
        from speechlstm.decode.beam_search import BeamSearchDecoder
        from speechlstm.decode.lm import ArpaLM
        if "arpa" not in cache:
            cache["arpa"] = ArpaLM(lm)
        return BeamSearchDecoder(frame_shift, VOCABULARY, lm=cache["arpa"], alpha=alpha, beta=beta, beam_size=beam)
    if kind in ("lexicon", "phones"):
        from speechlstm.decode.flashlight import LexiconBeamDecoder
        from speechlstm.phones import PHONES
        return LexiconBeamDecoder(frame_shift, PHONES if kind == "phones" else VOCABULARY, lm=lm, alpha=alpha,
                                  beta=beta, beam_size=beam, lexicon=lexicon, spelling=spelling, **(pruning or {}))
    return LexiconFreeAdapter(VOCABULARY, lm, alpha, beam)


def decode_offline(decoder, matrices: list[np.ndarray]) -> tuple[list[str], float]:
    """Each utterance in one call; the CPU seconds it all took."""
    start, texts = time.process_time(), []
    for matrix in matrices:
        texts.append(decode_matrix(decoder, matrix).text)
    return texts, time.process_time() - start


def decode_streaming(decoder, matrices: list[np.ndarray], chunk: int) -> tuple[list[str], list[float]]:
    """Chunk by chunk with a partial result after each; the CPU seconds each chunk took."""
    texts, costs = [], []
    for matrix in matrices:
        state = decoder.new_state()
        for start in range(0, len(matrix), chunk):
            begin = time.process_time()
            decoder.advance(state, matrix[start:start + chunk])
            decoder.result(state)
            costs.append(time.process_time() - begin)
        texts.append(decoder.result(state, final=True).text)
    return texts, costs


def run_job(kind: str, lm: str, grid: list[tuple[float, float]], beam: int, cache_path: str,
            stream_all: bool = False, lexicon: str | None = None, spelling: str = "american",
            pruning: dict | None = None) -> dict:
    """One decoder with one LM over its grid, in a fresh process (for load time and RSS)."""
    prefix = "phones_" if kind == "phones" else ""
    with np.load(cache_path) as cached:
        refs = [str(r) for r in cached["refs"]]
        chunk, frame_shift = int(cached["chunk"]), float(cached["frame_shift"])
        if f"{prefix}offline0" not in cached:
            raise SystemExit(f"{cache_path}: no {kind} log-probs (the model has no phone head)")
        offline = [cached[f"{prefix}offline{i}"] for i in range(len(refs))]
        streaming = [cached[f"{prefix}streaming{i}"] for i in range(len(refs))]
    base_rss = peak_rss_mb()
    lm_cache: dict = {}
    lexicon_path = Path(lexicon) if lexicon else None
    start = time.process_time()
    make_decoder(kind, Path(lm), *grid[0], beam, frame_shift, lm_cache, lexicon_path, spelling, pruning)
    load_s = time.process_time() - start
    rows = []
    for alpha, beta in grid:
        decoder = make_decoder(kind, Path(lm), alpha, beta, beam, frame_shift, lm_cache, lexicon_path, spelling,
                               pruning)
        texts, seconds = decode_offline(decoder, offline)
        rows.append({"decoder": kind, "lm": lm, "lm_mb": Path(lm).stat().st_size / 1e6, "beam": beam,
                     "lm_weight": alpha, "word_bonus": beta, "offline": score(refs, texts), "offline_s": seconds})
    best = min(rows, key=lambda row: (row["offline"]["wer"], row["offline"]["cer"]))
    for row in rows if stream_all else [best]:
        decoder = make_decoder(kind, Path(lm), row["lm_weight"], row["word_bonus"], beam, frame_shift, lm_cache,
                               lexicon_path, spelling, pruning)
        texts, costs = decode_streaming(decoder, streaming, chunk)
        row.update(streaming=score(refs, texts), chunk_ms_p50=1000 * statistics.median(costs),
                   chunk_ms_p95=1000 * float(np.percentile(costs, 95)))
    peak = peak_rss_mb()
    return {"rows": rows, "load_s": load_s, "peak_rss_mb": peak, "lm_rss_mb": peak - base_rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("../shared/data/dev.tsv"))
    parser.add_argument("--model", type=Path, help="model bundle (default: the shipped model)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/speechlstm-logprobs.npz"),
                        help="npz cache of the log-probabilities (default: %(default)s)")
    parser.add_argument("--limit", type=int, help="first N utterances only")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnx", "onnx-int8"),
                        help="acoustic backend that computes the cached log-probs (default: %(default)s)")
    parser.add_argument("--lm", type=Path, nargs="+", default=[DEFAULT_BUNDLE.parent / "lm.arpa.gz"], help="ARPA models (.arpa or .arpa.gz)")
    parser.add_argument("--decoders", nargs="+", choices=DECODERS, default=list(DECODERS))
    parser.add_argument("--ours-beam", type=int, default=16)
    parser.add_argument("--ours-lm-weights", type=float, nargs="+", default=[0.6, 0.8, 1.0])
    parser.add_argument("--ours-word-bonuses", type=float, nargs="+", default=[1.5, 2.5, 3.5])
    parser.add_argument("--lexicon-beam", type=int, default=50)
    parser.add_argument("--lexicon-lm-weights", type=float, nargs="+", default=[0.6, 0.9, 1.2])
    parser.add_argument("--lexicon-word-bonuses", type=float, nargs="+", default=[-2.0, -1.0, 0.0])
    parser.add_argument("--beam-threshold", type=float,
                        help="lexicon decoders: drop hypotheses this far below the best (default: the decoder's)")
    parser.add_argument("--token-beam", type=int,
                        help="lexicon decoders: tokens tried per frame (default: the decoder's)")
    parser.add_argument("--lexicon", type=Path, default=DEFAULT_BUNDLE.parent / "lexicon.txt.gz",
                        help="pronunciations of the LM's words, for the phones decoder")
    parser.add_argument("--spelling", choices=SPELLINGS, default="american",
                        help="the lexicon decoders' spelling of the LM's British words (default: %(default)s)")
    parser.add_argument("--lexfree-beam", type=int, default=50)
    parser.add_argument("--lexfree-lm-weights", type=float, nargs="+", default=[0.3])
    parser.add_argument("--stream-all", action="store_true",
                        help="decode every grid point in streaming fashion, not only the best offline one")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    args = parser.parse_args()
    cache = load_cache(args)
    grids = {"greedy": (1, [(0.0, 0.0)]),
             "ours": (args.ours_beam, list(itertools.product(args.ours_lm_weights, args.ours_word_bonuses))),
             "lexicon": (args.lexicon_beam, list(itertools.product(args.lexicon_lm_weights, args.lexicon_word_bonuses))),
             "lexfree": (args.lexfree_beam, [(alpha, 0.0) for alpha in args.lexfree_lm_weights])}
    grids["phones"] = grids["lexicon"]
    print("| decoder | LM | LM MB | beam | LM weight | word bonus | offline WER % | offline CER % | offline CPU s "
          "| streaming WER % | streaming CER % | CPU ms per chunk p50 / p95 | LM load CPU s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    pruning = {name: value for name, value in (("beam_threshold", args.beam_threshold),
                                               ("beam_size_token", args.token_beam)) if value is not None}
    results = []
    context = multiprocessing.get_context("spawn")
    jobs = [(lm, kind) for lm in args.lm for kind in args.decoders if kind != "greedy"]
    if "greedy" in args.decoders:
        jobs.insert(0, (args.lm[0], "greedy"))
    for lm, kind in jobs:
        beam, grid = grids[kind]
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            job = pool.submit(run_job, kind, str(lm), grid, beam, str(cache), args.stream_all,
                              str(args.lexicon), args.spelling, pruning).result()
        results.append(job)
        for row in job["rows"]:
            lm_name, lm_mb = (Path(lm).name, f"{row['lm_mb']:.1f}") if kind != "greedy" else ("-", "-")
            streaming = (f"{100 * row['streaming']['wer']:.2f} | {100 * row['streaming']['cer']:.2f} | "
                         f"{row['chunk_ms_p50']:.2f} / {row['chunk_ms_p95']:.2f}") if "streaming" in row else "| |"
            print(f"| {kind} | {lm_name} | {lm_mb} | {beam} | {row['lm_weight']:g} | {row['word_bonus']:g} | "
                  f"{100 * row['offline']['wer']:.2f} | {100 * row['offline']['cer']:.2f} | {row['offline_s']:.1f} | "
                  f"{streaming} | {job['load_s']:.2f} | {job['peak_rss_mb']:.0f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
