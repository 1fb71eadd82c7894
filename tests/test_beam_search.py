"""The beam decoders on synthetic CTC posteriors: greedy agreement, LM fusion, hotwords,
streaming equivalence and bounded state, for BeamSearchDecoder and (when flashlight-text
is installed) LexiconBeamDecoder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speechlstm.decode import decode_matrix
from speechlstm.decode import flashlight as flashlight_decoder
from speechlstm.decode.beam_search import MAX_WORD_CHARS, BeamSearchDecoder
from speechlstm.decode.greedy import GreedyDecoder
from speechlstm.decode.lm import ArpaLM
from speechlstm.text import VOCABULARY, text_to_ids

FRAME = 0.03
V = len(VOCABULARY)
INDEX = {ch: i for i, ch in enumerate(VOCABULARY)}

ARPA = """\\data\\
ngram 1=10
ngram 2=6

\\1-grams:
-2.0\t<unk>
-99\t<s>\t-0.3
-1.0\t</s>
-1.0\tthe\t-0.3
-2.0\tcat\t-0.3
-2.0\tcot\t-0.3
-1.5\tsat\t-0.3
-1.5\ton\t-0.3
-1.7\tmat\t-0.3
-1.7\tnew\t-0.3

\\2-grams:
-0.3\t<s> the
-0.5\tthe cat
-3.0\tthe cot
-0.4\tcat sat
-0.4\tcot sat
-0.3\tsat on

\\end\\
"""


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(tmp_path_factory.mktemp("lm")) / "tiny.arpa"
    path.write_text(ARPA)
    return path


@pytest.fixture(scope="module")
def lm(lm_path: Path) -> ArpaLM:
    return ArpaLM(lm_path)


def frames(spec: list[dict[str, float]], floor: float = 1e-4) -> np.ndarray:
    """Log-softmax rows from per-frame {symbol: probability} dicts ('_' is blank)."""
    out = np.full((len(spec), V), floor)
    for row, probs in zip(out, spec):
        for ch, p in probs.items():
            row[0 if ch == "_" else INDEX[ch]] = p
    out /= out.sum(axis=1, keepdims=True)
    return np.log(out)


def spell(text: str, rng: np.random.Generator, peak: float = 0.9) -> np.ndarray:
    """A peaked posterior path for ``text``: each character 1-3 frames, random blanks."""
    path: list[int] = []
    previous = None
    for token in text_to_ids(text):
        if token == previous:
            path.append(0)
        path += [token] * int(rng.integers(1, 4)) + [0] * int(rng.integers(0, 3))
        previous = token
    probs = rng.random((len(path), V)) * (1 - peak) / V
    probs[np.arange(len(path)), path] = peak
    probs /= probs.sum(axis=1, keepdims=True)
    return np.log(probs)


def decode(decoder, log_probs: np.ndarray, chunks: list[int] | None = None):
    """The final result of ``log_probs`` fed in ``chunks`` (default: all at once, ``decode_matrix``)."""
    if not chunks:
        return decode_matrix(decoder, log_probs)
    state = decoder.new_state()
    for part in np.split(log_probs, np.cumsum(chunks)[:-1]) if chunks else [log_probs]:
        decoder.advance(state, part)
    return decoder.result(state, final=True)


def ambiguous(word_a: str, word_b: str, p_a: float, prefix: str = "the ", suffix: str = " sat") -> np.ndarray:
    """Clear frames for prefix/suffix; the differing letter favours word_b by 1 - p_a."""
    spec: list[dict[str, float]] = []
    for ch in prefix:
        spec += [{ch: 0.95}, {"_": 0.95}]
    for a, b in zip(word_a, word_b):
        spec += [{a: 0.95}] if a == b else [{a: p_a, b: 1 - p_a}]
        spec += [{"_": 0.95}]
    for ch in suffix:
        spec += [{ch: 0.95}, {"_": 0.95}]
    return frames(spec)


TEXTS = ["hello world", "it's a fine day to see the bookkeeper", "aaa bb a", "too good to be true",
         "a", "mississippi river boats"]


@pytest.mark.parametrize("text", TEXTS)
def test_without_lm_equals_greedy_on_peaked_posteriors(text: str) -> None:
    log_probs = spell(text, np.random.default_rng(len(text)))
    greedy = decode(GreedyDecoder(FRAME), log_probs)
    beam = decode(BeamSearchDecoder(FRAME, beam_size=8), log_probs)
    assert beam.text == greedy.text == text
    for g, b in zip(greedy.words, beam.words):
        assert (g.word, g.start, g.end) == (b.word, b.start, b.end)
        assert b.confidence == pytest.approx(g.confidence, rel=1e-6)


def test_word_times_and_confidence() -> None:
    log_probs = frames([{"_": 0.9}, {"h": 0.8, "_": 0.2}, {"h": 0.8, "_": 0.2}, {"i": 0.6, "_": 0.4},
                        {"_": 0.9}, {" ": 0.9}, {"y": 0.9}, {"o": 0.9}, {"_": 0.9}])
    result = decode(BeamSearchDecoder(FRAME), log_probs)
    assert result.text == "hi yo"
    hi, yo = result.words
    assert (hi.start, hi.end) == pytest.approx((0.03, 0.12))
    assert (yo.start, yo.end) == pytest.approx((0.18, 0.24))
    assert hi.confidence == pytest.approx(np.sqrt(0.8 * 0.6), rel=1e-2)
    assert 0.0 < hi.confidence <= 1.0


def test_lm_corrects_an_ambiguous_word(lm: ArpaLM) -> None:
    log_probs = ambiguous("cat", "cot", p_a=0.4)
    assert decode(BeamSearchDecoder(FRAME), log_probs).text == "the cot sat"
    assert decode(BeamSearchDecoder(FRAME, lm=lm, alpha=1.0, beta=0.0), log_probs).text == "the cat sat"


def test_lm_does_not_override_clear_acoustics(lm: ArpaLM) -> None:
    log_probs = ambiguous("cat", "cot", p_a=0.001)
    assert decode(BeamSearchDecoder(FRAME, lm=lm, alpha=0.5), log_probs).text == "the cot sat"


def test_hotword_makes_a_rare_word_win(lm: ArpaLM) -> None:
    log_probs = ambiguous("kat", "cat", p_a=0.3)
    plain = BeamSearchDecoder(FRAME, lm=lm, alpha=0.5)
    assert decode(plain, log_probs).text == "the cat sat"
    boosted = BeamSearchDecoder(FRAME, lm=lm, alpha=0.5, hotwords={"Kat": 8.0})
    assert decode(boosted, log_probs).text == "the kat sat"


def test_hotword_phrase_and_partial_bonus_withdrawn() -> None:
    log_probs = ambiguous("new york", "new yolk", p_a=0.3, prefix="", suffix="")
    assert decode(BeamSearchDecoder(FRAME), log_probs).text == "new yolk"
    assert decode(BeamSearchDecoder(FRAME, hotwords={"new york": 5.0}), log_probs).text == "new york"
    # A phrase that is only partly matched ("new yorkshire") leaves no bonus behind.
    decoder = BeamSearchDecoder(FRAME, hotwords={"new yorkshire": 5.0})
    assert decode(decoder, log_probs).text == "new yolk"


def test_hotword_only_matches_whole_words() -> None:
    log_probs = ambiguous("scat", "scot", p_a=0.4, prefix="", suffix="")
    assert decode(BeamSearchDecoder(FRAME, hotwords={"cat": 5.0}), log_probs).text == "scot"


@pytest.mark.parametrize("chunks", [[1] * 40, [7, 3, 11, 2, 100], [5] * 20])
def test_chunked_equals_whole(lm: ArpaLM, chunks: list[int]) -> None:
    rng = np.random.default_rng(3)
    log_probs = np.concatenate([ambiguous("cat", "cot", p_a=0.45), spell("on the mat", rng, peak=0.6)])
    chunks = chunks + [len(log_probs)]
    decoder = BeamSearchDecoder(FRAME, lm=lm, alpha=0.8, hotwords={"mat": 2.0})
    assert decode(decoder, log_probs, chunks) == decode(decoder, log_probs)


def test_partial_results_while_streaming(lm: ArpaLM) -> None:
    decoder = BeamSearchDecoder(FRAME, lm=lm)
    state = decoder.new_state()
    log_probs = spell("the cat sat", np.random.default_rng(1))
    decoder.advance(state, log_probs[: len(log_probs) // 2])
    partial = decoder.result(state)
    decoder.advance(state, log_probs[len(log_probs) // 2:])
    assert "the cat sat".startswith(partial.text)
    assert decoder.result(state, final=True).text == "the cat sat"
    assert decoder.result(state, final=True).text == "the cat sat"  # final does not consume


def test_state_stays_bounded_on_long_input(lm: ArpaLM) -> None:
    rng = np.random.default_rng(7)
    decoder = BeamSearchDecoder(FRAME, lm=lm, beam_size=6, lm_cache_size=50)
    state = decoder.new_state()
    noisy = np.log(rng.dirichlet(np.full(V, 0.3), size=2000))
    for chunk in np.split(noisy, 100):
        decoder.advance(state, chunk)
        assert len(state.beams) <= 6
        assert len(state.lm_cache) <= 50
    assert state.frames == 2000
    assert decoder.result(state, final=True).text == decoder.result(state, final=True).text


def test_words_never_exceed_the_cap_when_no_space_is_emitted() -> None:
    decoder = BeamSearchDecoder(FRAME, beam_size=4)
    state = decoder.new_state()
    letters = [ch for ch in "abcdefghij"] * 30
    decoder.advance(state, frames([{ch: 0.9} for ch in letters]))
    words = decoder.result(state, final=True).words
    assert "".join(w.word for w in words) == "".join(letters)
    assert max(len(w.word) for w in words) == MAX_WORD_CHARS


def test_token_pruning_limits_candidates() -> None:
    decoder = BeamSearchDecoder(FRAME, top_k=3, token_min_logp=-2.0)
    rows = decoder._candidates(frames([{"a": 0.5, "b": 0.3, "c": 0.15}, {"_": 0.99}]))
    assert set(rows[0]) == {INDEX["a"], INDEX["b"], INDEX["c"]}
    assert rows[1] == []


needs_flashlight = pytest.mark.skipif(not flashlight_decoder.AVAILABLE, reason="flashlight-text is not installed")


def lexicon(lm_path: Path, **options) -> flashlight_decoder.LexiconBeamDecoder:
    return flashlight_decoder.LexiconBeamDecoder(FRAME, lm=lm_path, **options)


@needs_flashlight
def test_lexicon_decoder_words_match_greedy_times_and_confidences(lm_path: Path) -> None:
    log_probs = spell("the cat sat on the mat", np.random.default_rng(5))
    greedy = decode(GreedyDecoder(FRAME), log_probs)
    result = decode(lexicon(lm_path), log_probs)
    assert result.text == greedy.text == "the cat sat on the mat"
    for g, b in zip(greedy.words, result.words):
        assert (g.word, g.start, g.end) == pytest.approx((b.word, b.start, b.end))
        assert b.confidence == pytest.approx(g.confidence, rel=1e-5)


@needs_flashlight
def test_lexicon_decoder_lm_fusion(lm_path: Path) -> None:
    assert decode(lexicon(lm_path, alpha=1.0, beta=0.0), ambiguous("cat", "cot", p_a=0.4)).text == "the cat sat"
    assert decode(lexicon(lm_path, alpha=0.5), ambiguous("cat", "cot", p_a=0.001)).text == "the cot sat"


@needs_flashlight
def test_lexicon_decoder_hotwords_add_words_and_phrases(lm_path: Path) -> None:
    log_probs = ambiguous("kat", "cat", p_a=0.3)
    assert decode(lexicon(lm_path, alpha=0.5), log_probs).text == "the cat sat"
    assert decode(lexicon(lm_path, alpha=0.5, hotwords={"Kat": 8.0}), log_probs).text == "the kat sat"
    phrase = ambiguous("new york", "new yolk", p_a=0.3, prefix="", suffix="")
    assert "york" not in decode(lexicon(lm_path), phrase).text  # outside the lexicon
    assert decode(lexicon(lm_path, hotwords={"new york": 5.0}), phrase).text == "new york"
    with pytest.raises(ValueError, match="positive LM weight"):
        lexicon(lm_path, alpha=0.0, hotwords={"kat": 8.0})


@needs_flashlight
@pytest.mark.parametrize("chunks", [[1] * 40, [7, 3, 11, 2, 100], [5] * 20])
def test_lexicon_decoder_chunked_equals_whole(lm_path: Path, chunks: list[int]) -> None:
    rng = np.random.default_rng(3)
    log_probs = np.concatenate([ambiguous("cat", "cot", p_a=0.45), spell("on the mat", rng, peak=0.6)])
    decoder = lexicon(lm_path, alpha=0.8, hotwords={"mat": 2.0})
    assert decode(decoder, log_probs, chunks + [len(log_probs)]) == decode(decoder, log_probs)


@needs_flashlight
def test_lexicon_decoder_commits_old_frames_on_long_streams(lm_path: Path) -> None:
    text = " ".join(["the cat sat on the mat"] * 12)
    log_probs = spell(text, np.random.default_rng(11))
    decoder = lexicon(lm_path, commit_frames=150, keep_frames=40)
    state = decoder.new_state()
    for chunk in np.array_split(log_probs, 60):
        decoder.advance(state, chunk)
        assert len(state.emissions) < 150
        assert text.startswith(decoder.result(state).text[:-3])  # the partial word may differ
    assert state.offset > len(log_probs) // 2
    assert decoder.result(state, final=True) == decode(lexicon(lm_path), log_probs)
    assert decoder.result(state, final=True).text == text


def test_hotwords_take_bare_phrases_and_refuse_other_shapes():
    from speechlstm.config import DecodingConfig, HotwordError

    assert DecodingConfig(hotwords=["marianne"]).hotwords == (("marianne", 8.0),)
    assert DecodingConfig(hotwords={"new york": 10}).hotwords == (("new york", 10.0),)
    assert DecodingConfig(hotwords=[("a", 2.0), "b"]).hotwords == (("a", 2.0), ("b", 8.0))
    for bad in ("marianne", [("a",)], [("a", "high")], [3]):
        with pytest.raises(HotwordError, match=r"phrases or \(phrase, boost\) pairs"):
            DecodingConfig(hotwords=bad)


@pytest.mark.parametrize("phrase,shown", [("東京", "東京"), ("Ωmega", "ω"), ("...", "it")])
def test_hotwords_the_model_cannot_write_are_refused(phrase, shown):
    from speechlstm.config import HotwordError
    with pytest.raises(HotwordError, match=f"hotword '{phrase}': the model cannot write {shown} "):
        BeamSearchDecoder(0.03, hotwords={phrase: 8.0})
    BeamSearchDecoder(0.03, hotwords={"Café Zürich": 8.0, "C3PO": 8.0})


@pytest.mark.parametrize("decoder, installed, lm_given, expected", [
    ("beam", True, True, "LexiconBeamDecoder"), ("beam", False, True, "BeamSearchDecoder"),
    ("beam", True, False, "BeamSearchDecoder"), ("prefix", True, True, "BeamSearchDecoder"),
    ("lexicon", True, True, "LexiconBeamDecoder")])
def test_recognizer_picks_the_lexicon_decoder_where_it_can_run(monkeypatch, tiny_bundle: Path, lm_path: Path,
                                                               decoder: str, installed: bool, lm_given: bool,
                                                               expected: str) -> None:
    from speechlstm.bundle import load_bundle
    from speechlstm.config import BEAM_DEFAULTS, DecodingConfig
    from speechlstm.decode import build_decoder
    if expected == "LexiconBeamDecoder" and not flashlight_decoder.AVAILABLE:
        pytest.skip("flashlight-text is not installed")
    monkeypatch.setattr(flashlight_decoder, "AVAILABLE", installed and flashlight_decoder.AVAILABLE)
    config = DecodingConfig(decoder=decoder, lm=lm_path if lm_given else None)
    built = build_decoder(load_bundle(tiny_bundle), config, tiny_bundle)
    assert type(built).__name__ == expected
    kind = "lexicon" if expected == "LexiconBeamDecoder" else "prefix"
    beam_size = built.beam_size if kind == "prefix" else built.options.beam_size
    assert beam_size == BEAM_DEFAULTS[kind][0]


def test_lexicon_decoder_needs_an_lm(tiny_bundle: Path) -> None:
    from speechlstm.bundle import load_bundle
    from speechlstm.config import DecodingConfig
    from speechlstm.decode import build_decoder
    with pytest.raises(ValueError, match="needs a language model"):
        build_decoder(load_bundle(tiny_bundle), DecodingConfig(decoder="lexicon", lm=None), tiny_bundle)


def test_prefix_and_greedy_alternatives_are_the_n_best_distinct_texts() -> None:
    log_probs = ambiguous("cat", "cot", p_a=0.4)
    decoder = BeamSearchDecoder(FRAME, beam_size=8)
    state = decoder.new_state()
    decoder.advance(state, log_probs)
    best = decoder.result(state, final=True)
    alternatives = decoder.alternatives(state, 3)
    assert [a.result.text for a in alternatives[:2]] == [best.text, "the cat sat"]
    assert len({a.result.text for a in alternatives}) == len(alternatives) <= 3
    assert [a.score for a in alternatives] == sorted((a.score for a in alternatives), reverse=True)
    greedy = GreedyDecoder(FRAME)
    state = greedy.new_state()
    greedy.advance(state, log_probs)
    assert [a.result for a in greedy.alternatives(state, 3)] == [greedy.result(state, final=True)]


@needs_flashlight
def test_lexicon_alternatives_are_the_n_best_distinct_texts(lm_path: Path) -> None:
    decoder = lexicon(lm_path, alpha=0.2)
    state = decoder.new_state()
    decoder.advance(state, ambiguous("cat", "cot", p_a=0.5))
    best = decoder.result(state, final=True)
    alternatives = decoder.alternatives(state, 2)
    assert [a.result.text for a in alternatives] == [best.text, *({"the cat sat", "the cot sat"} - {best.text})]
    assert alternatives[0].score >= alternatives[1].score
