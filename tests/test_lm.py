"""ARPA loading/scoring (speechlstm.decode.lm) and the Kneser-Ney builder (speechlstm.decode.lm_builder)."""
from __future__ import annotations

import gzip
import io
import math
from pathlib import Path

import pytest

from speechlstm.cli import main
from speechlstm.decode import lm_builder
from speechlstm.decode.lm import ArpaLM

LN10 = math.log(10)

TINY_ARPA = """\\data\\
ngram 1=7
ngram 2=4
ngram 3=2

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-1.0\t</s>
-0.7\tthe\t-0.3
-1.2\tcat\t-0.2
-1.5\tsat
-1.3\ton

\\2-grams:
-0.4\t<s> the\t-0.1
-0.6\tthe cat\t-0.25
-0.9\tcat sat
-0.8\tsat on

\\3-grams:
-0.2\t<s> the cat
-0.05\tthe cat sat

\\end\\
"""


@pytest.fixture
def tiny_lm(tmp_path: Path) -> ArpaLM:
    path = tmp_path / "tiny.arpa"
    path.write_text(TINY_ARPA)
    return ArpaLM(path)


def test_counts_and_vocabulary(tiny_lm: ArpaLM) -> None:
    assert tiny_lm.order == 3
    assert [len(keys) for keys in tiny_lm._keys] == [7, 4, 2]  # n-grams per order
    assert "cat" in tiny_lm and "dog" not in tiny_lm


def test_scores_follow_backoff_in_natural_log(tiny_lm: ArpaLM) -> None:
    s0 = tiny_lm.begin()
    logp, s1 = tiny_lm.score(s0, "the")
    assert logp == pytest.approx(-0.4 * LN10, abs=1e-5)
    logp, s2 = tiny_lm.score(s1, "cat")
    assert logp == pytest.approx(-0.2 * LN10, abs=1e-5)
    logp, s3 = tiny_lm.score(s2, "sat")
    assert logp == pytest.approx(-0.05 * LN10, abs=1e-5)
    # "cat sat on": no trigram, no backoff stored for "cat sat", bigram "sat on" exists.
    logp, _ = tiny_lm.score(s3, "on")
    assert logp == pytest.approx(-0.8 * LN10, abs=1e-5)
    # "the cat the": backoff(the cat) + backoff(cat) + P(the).
    logp, _ = tiny_lm.score(s2, "the")
    assert logp == pytest.approx((-0.25 - 0.2 - 0.7) * LN10, abs=1e-5)


def test_unknown_words_and_sentence_end(tiny_lm: ArpaLM) -> None:
    state = tiny_lm.score(tiny_lm.begin(), "the")[1]
    unk, _ = tiny_lm.score(state, "zebra")
    # backoff(<s> the) + backoff(the) + P(<unk>)
    assert unk == pytest.approx((-0.1 - 0.3 - 1.0) * LN10, abs=1e-5)
    assert tiny_lm.final(state) == pytest.approx((-0.1 - 0.3 - 1.0) * LN10, abs=1e-5)


def test_state_shrinks_to_known_context(tiny_lm: ArpaLM) -> None:
    state = tiny_lm.score(tiny_lm.begin(), "on")[1]  # "<s> on" is no bigram
    assert state == (tiny_lm.index["on"],)


def test_gzip_file_loads_the_same(tmp_path: Path, tiny_lm: ArpaLM) -> None:
    path = tmp_path / "tiny.arpa.gz"
    with gzip.open(path, "wt") as f:
        f.write(TINY_ARPA)
    other = ArpaLM(path)
    state = other.score(other.begin(), "the")[1]
    assert other.score(state, "cat")[0] == tiny_lm.score(tiny_lm.score(tiny_lm.begin(), "the")[1], "cat")[0]


CORPUS = """THE CAT SAT ON THE MAT
THE DOG SAT ON THE LOG
A CAT AND A DOG
THE CAT SAW THE DOG
THE DOG SAW A BIRD ON THE MAT
A BIRD SAT ON THE CAT
THE MAT WAS RED
THE LOG WAS OLD AND THE MAT WAS NEW
""" * 3


def _sums(lm: ArpaLM, contexts: list[list[str]]) -> list[float]:
    sums = []
    for context in contexts:
        state = lm.begin()
        for word in context:
            state = lm.score(state, word)[1]
        sums.append(sum(math.exp(lm.score(state, w)[0]) for w in lm.words if w != "<s>"))
    return sums


@pytest.mark.parametrize("prune", [[0, 1, 1], [0, 2, 4]])
def test_builder_distributions_sum_to_one(prune: list[int], tmp_path: Path) -> None:
    build = lm_builder
    vocab = "the cat sat on mat dog log a and saw bird was red old new".split()
    builder = build.ArpaBuilder(vocab[:12], order=3)  # "bird", "was", ... become <unk>
    builder.add(CORPUS.splitlines())
    out = io.StringIO()
    builder.write_arpa(builder.estimate(prune), out)
    path = tmp_path / "built.arpa"
    path.write_text(out.getvalue())
    lm = ArpaLM(path)
    contexts = [[], ["the"], ["the", "cat"], ["a", "bird"], ["zebra"], ["saw", "the"], ["on", "the"]]
    for total in _sums(lm, contexts):
        assert total == pytest.approx(1.0, abs=2e-3)
    assert lm.score(lm.begin(), "cat")[0] < lm.score(lm.begin(), "the")[0]


def test_pruning_drops_rare_ngrams_but_keeps_unigrams() -> None:
    build = lm_builder
    builder = build.ArpaBuilder("the cat sat on mat dog log a and saw".split(), order=3)
    builder.add(CORPUS.splitlines())
    full, pruned = builder.estimate([0, 1, 1]), builder.estimate([0, 4, 7])
    assert len(pruned[0].keys) == len(full[0].keys)
    assert len(pruned[1].keys) < len(full[1].keys)
    assert 0 < len(pruned[2].keys) < len(full[2].keys)
    assert builder.tokens == len(CORPUS.split())


def test_builder_command_line(tmp_path: Path) -> None:
    build = lm_builder
    text = tmp_path / "text.txt"
    text.write_text(CORPUS)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("THE\nCAT\nDOG\nSAT\nON\nMAT\n")
    out = tmp_path / "lm.arpa.gz"
    assert main(["build-lm", "--text", str(text), "--vocab", str(vocab), "--vocab-size", "5",
                 "--max-words", "30", "--prune", "0", "1", "1", "-o", str(out)]) == 0
    lm = ArpaLM(out)
    assert set(lm.words) == {"<unk>", "<s>", "</s>", "the", "cat", "dog", "sat", "on"}
    assert _sums(lm, [[], ["the"], ["the", "cat"]]) == pytest.approx([1.0] * 3, abs=2e-3)


def test_arpa_without_unk_gets_kenlm_floor(tmp_path: Path) -> None:
    """SRILM writes no <unk> by default: unknown words then score log10 -100, as in KenLM."""
    path = tmp_path / "no_unk.arpa"
    path.write_text(TINY_ARPA.replace("ngram 1=7", "ngram 1=6").replace("-1.0\t<unk>\n", ""))
    with pytest.warns(UserWarning, match="no <unk>"):
        lm = ArpaLM(path)
    assert lm.score(lm.begin(), "dog")[0] == pytest.approx(-100 * LN10 - 0.5 * LN10, rel=1e-5)
    assert lm.score(lm.begin(), "the")[0] == pytest.approx(-0.4 * LN10, rel=1e-5)


@pytest.mark.parametrize("content", [b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x80\xff",
                                     b"hello world\n", b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\n"],
                         ids=["wav", "text", "malformed"])
def test_non_arpa_file_is_a_bundle_error(tmp_path: Path, content: bytes) -> None:
    from speechlstm.errors import ModelFileError
    from speechlstm.decode.lm import load_lm
    path = tmp_path / "model.arpa"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a readable ARPA language model"):
        load_lm(path)
