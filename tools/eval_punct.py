"""Punctuation and truecasing on held-out books: the tagger against a rule and against itself
with a bounded look-ahead; and its cost (size, ms per word on one thread, memory).

    nice -n 10 python tools/eval_punct.py [--model models/punct-en.int8.onnx] [--sentences 3000]

Runs are 1 to 6 shuffled sentences of the held-out books (speechlstm.punct_data), scored as
one text each, as rendered: the end of a run ends a sentence for every system (as an endpoint
or the end of a file does) and a sentence end capitalizes the next word. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from speechlstm.punct_data import end_marks, make_runs, read_sentences, score
from speechlstm.punctuation import Punctuator, StreamingPunctuator, rule_labels, sentence_cases

COLUMNS = (", F1", ", P", ", R", ". F1", ". P", ". R", "? F1", "capital F1", "capital P", "capital R", "SER")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=Path, default=Path("../shared/text/tts_prompts.tsv.gz"))
    parser.add_argument("--model", type=Path, action="append", help="tagger(s) (default: the shipped one)")
    parser.add_argument("--sentences", type=int, default=3000, help="held-out sentences scored (default 3000)")
    parser.add_argument("--lookahead", type=int, nargs="*", default=[0, 1, 2, 4, 8],
                        help="look-aheads in words to score besides the whole text")
    args = parser.parse_args()
    runs = make_runs(read_sentences(args.prompts, evaluation=True, limit=args.sentences), seed=1)
    words = sum(len(run.words) for run in runs)
    print(f"{len(runs)} runs, {words} words, from {args.sentences} sentences of held-out books\n")
    print("| system | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")

    def row(name: str, cases: list, marks: list) -> None:
        """Scored as rendered: a sentence ends at the end of the run, a capital after each end."""
        marks = [end_marks(m) for m in marks]
        figures = score(runs, [sentence_cases(c, m) for c, m in zip(cases, marks)], marks)
        print(f"| {name} | " + " | ".join(f"{figures[c]:.3f}" for c in COLUMNS) + " |", flush=True)

    rules = [rule_labels(run.words) for run in runs]
    row("rule: capital at the start and on I, a period at the end", [c for c, _ in rules], [m for _, m in rules])
    costs = []
    for path in args.model or [None]:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        punctuator = Punctuator(path, threads=1)
        loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        name = punctuator.path.name
        started = time.perf_counter()
        tagged = [punctuator.labels(run.words) for run in runs]
        per_word = (time.perf_counter() - started) * 1000 / words
        costs.append((name, punctuator.path.stat().st_size / 1e6, per_word, _final_ms(punctuator, runs),
                      (loaded - rss) / 1024, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024))
        row(f"{name}, whole text", [c for c, _ in tagged], [m for _, m in tagged])
        for lookahead in args.lookahead:
            tagged = [punctuator.labels(run.words, lookahead=lookahead) for run in runs]
            row(f"{name}, {lookahead} words look-ahead", [c for c, _ in tagged], [m for _, m in tagged])
    print("\n| model | MB | ms per word (whole text, 1 thread) | ms per 20-word live final (median) "
          "| RSS added by loading (MB) | peak RSS added (MB) |")
    print("|---|---|---|---|---|---|")
    for name, size, per_word, final_ms, loaded, peak in costs:
        print(f"| {name} | {size:.2f} | {per_word:.4f} | {final_ms:.2f} | {loaded:.0f} | {peak:.0f} |")


def _final_ms(punctuator: Punctuator, runs: list) -> float:
    """What punctuating a live final adds to its latency: 20 words after 32 words of earlier finals."""
    words = [word for run in runs for word in run.words]
    times = []
    for start in range(0, min(len(words) - 52, 200 * 52), 52):
        stream = StreamingPunctuator(punctuator, history=words[start:start + 32])
        started = time.perf_counter()
        stream.final(words[start + 32:start + 52])
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


if __name__ == "__main__":
    main()
