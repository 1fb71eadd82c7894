"""The punctuation tagger: labels, a tiny model trained here and run on onnxruntime, the shipped
model on fixed sentences, the streaming tagger, written numbers, and the outputs with and without --raw-text."""
import json

import numpy as np
import pytest

from speechlstm.cli import main
from speechlstm.io.formats import subtitle_cues
from speechlstm.numbers import cardinal, write_numbers
from speechlstm.punct_data import Run, end_marks, score
from speechlstm.punctuation import (DEFAULT_PUNCTUATOR, MARKS, Punctuator, PunctuatorError, StreamingPunctuator,
                                    labelled_words, render, rule_labels)
from speechlstm.results import Result, Transcript, Word
from speechlstm.server import vosk

from conftest import SAMPLES

SENTENCES = [("Where is Mister McDonald going?", "WHERE IS MISTER MCDONALD GOING"),
             ("He left, and I stayed home.", "HE LEFT AND I STAYED HOME"),
             ("The NASA team was late.", "THE NASA TEAM WAS LATE")]


def test_labels_come_from_the_written_sentence():
    words = labelled_words("He left, and I stayed home.", "HE LEFT AND I STAYED HOME")
    assert [(w, MARKS[m]) for w, _, m, _ in words] == [("he", ""), ("left", ","), ("and", ""), ("i", ""),
                                                       ("stayed", ""), ("home", ".")]
    assert [c for _, c, _, _ in words] == [1, 0, 0, 1, 0, 0]
    assert labelled_words("It was the O'Brien-Smith boy!", "IT WAS THE O'BRIEN SMITH BOY")[3][1:] == (3, 0, "O'Brien")
    assert labelled_words("Twelve, not 12.", "TWELVE NOT TWELVE") is None  # digits do not align word for word
    assert labelled_words("Café noir.", "CAFE NOIR")[0][1:] == (1, 0, "Cafe")


def test_render_and_rule():
    assert render(["where", "are", "you"], [1, 0, 0], [0, 0, 3], {}) == ["Where", "are", "you?"]
    assert render(["so", "mcdonald"], [1, 3], [0, 1], {"mcdonald": "McDonald"}) == ["So", "McDonald."]
    assert render(["so", "it", "goes"], [1, 0, 0], [0, 0, 0], {}, final=False) == ["So", "it", "goes"]
    assert rule_labels(["i", "think", "so", "i'm", "sure"]) == ([1, 0, 0, 1, 0], [0] * 5)


def test_scores():
    truth = [Run(["a", "b", "c", "d"], [1, 0, 0, 1], [0, 1, 0, 2])]
    figures = score(truth, [[1, 0, 1, 1]], [end_marks([0, 2, 0, 0])])
    assert figures[". R"] == 1.0 and figures[". P"] == 0.5 and figures[", R"] == 0.0
    assert figures["capital P"] == pytest.approx(2 / 3) and figures["capital R"] == 1.0
    assert figures["SER"] == 0.5  # one substitution over two marks


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory):
    """A tiny tagger trained here until it knows three sentences, exported to ONNX."""
    import torch

    from speechlstm.nn.punct import PunctTagger, TaggerConfig, batch_tensors, build_vocabulary, export_onnx

    torch.manual_seed(0)
    sentences = [labelled_words(*pair) for pair in SENTENCES]
    vocabulary = build_vocabulary(sentences, 50)
    model = PunctTagger(TaggerConfig(vocab_size=50, word_dim=16, ngram_dim=8, hidden=16, dropout=0.0))
    runs = [Run([w[0] for w in s], [w[1] for w in s], [w[2] for w in s]) for s in sentences]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    ids, grams, lengths, cases, marks = batch_tensors(runs, vocabulary)
    for _ in range(150):
        case_logits, mark_logits = model(ids, grams, lengths)
        loss = (torch.nn.functional.cross_entropy(case_logits.flatten(0, 1), cases.flatten(), ignore_index=-100)
                + torch.nn.functional.cross_entropy(mark_logits.flatten(0, 1), marks.flatten(), ignore_index=-100))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    path = export_onnx(model, vocabulary, tmp_path_factory.mktemp("punct") / "tiny.onnx", int8=False)
    return path, model, vocabulary, runs


def test_tiny_tagger_runs_the_same_on_onnxruntime(tiny_tagger):
    import torch

    from speechlstm.nn.punct import batch_tensors
    path, model, vocabulary, runs = tiny_tagger
    punctuator = Punctuator(path)
    with torch.no_grad():
        case_logits, mark_logits = model(*batch_tensors(runs[:1], vocabulary)[:3])
    cases, marks = punctuator._run([runs[0].words])
    np.testing.assert_allclose(cases, case_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(marks, mark_logits.numpy(), atol=1e-4)
    assert punctuator.punctuate("where is mister mcdonald going") == "Where is Mister McDonald going?"
    assert punctuator.punctuate("he left and i stayed home") == "He left, and I stayed home."
    assert punctuator.punctuate("the nasa team was late") == "The NASA team was late."


def test_window_labels_see_only_their_window(tiny_tagger):
    punctuator = Punctuator(tiny_tagger[0])
    words = "he left and i stayed home".split()
    cases, marks = punctuator.labels(words, lookahead=1, context=2)
    for t in range(len(words)):
        window = words[max(0, t - 2):t + 2]
        c, m = punctuator.labels(window)
        assert (cases[t], marks[t]) == (c[t - max(0, t - 2)], m[t - max(0, t - 2)])


def test_streaming_punctuator(tiny_tagger):
    punctuator = Punctuator(tiny_tagger[0])
    stream = StreamingPunctuator(punctuator, hold=2)
    partial = stream.partial("he left and i".split())
    assert partial[:2] == ["He", "left,"] and partial[2:] == ["and", "I"]  # the last two marks are held
    assert stream.history == []  # a partial settles nothing
    assert stream.final("he left and i stayed home".split()) == "He left, and I stayed home.".split()
    assert stream.history == "he left and i stayed home".split()
    # the next utterance is tagged after the session's earlier words, and its end ends a sentence
    assert stream.final(["the", "nasa", "team"])[-1] in ("team.", "team?", "team!")
    assert len(stream.history) <= stream.context


def test_missing_model_is_a_model_error(tmp_path):
    with pytest.raises(PunctuatorError, match="not found"):
        Punctuator(tmp_path / "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(PunctuatorError, match="not a punctuation model"):
        Punctuator(tmp_path / "bad.onnx")


@pytest.mark.parametrize("spoken,written", [
    ("go for twelve.", "go for 12."),
    ("twelve thirty", "12:30"),
    ("at ten fifteen, he said", "at 10:15, he said"),
    ("nineteen eighty four", "1984"),
    ("in nineteen o five", "in 1905"),
    ("nineteen hundred", "1900"),
    ("three point five percent", "3.5%"),
    ("fifty per cent of them", "50% of them"),
    ("it cost five dollars and fifty cents.", "it cost $5.50."),
    ("it cost twenty dollars", "it cost $20"),
    ("the twenty first of May", "the 21st of May"),
    ("the hundredth time", "the 100th time"),
    ("he was the third man", "he was the third man"),
    ("one of the best", "one of the best"),
    ("I have two hundred and fifty three books", "I have 253 books"),
    ("one thousand and one nights", "1001 nights"),
    ("twenty five thousand men", "25,000 men"),
    ("two million people", "2 million people"),
    ("two, three, four", "two, three, four"),
    ("a hundred men", "a hundred men"),
    ("and one and two", "and one and two"),
    ("Twenty. Thirty", "20. 30"),
])
def test_written_numbers(spoken, written):
    tokens = write_numbers(spoken.split())
    assert len(tokens) == len(spoken.split())
    assert " ".join(t for t in tokens if t) == written


def test_cardinal_takes_only_the_usual_forms():
    assert cardinal("two hundred and fifty three".split()) == 253
    assert cardinal("nine hundred".split()) == 900
    for odd in ("twenty twenty", "five six", "hundred", "and five", "fifty and"):
        assert cardinal(odd.split()) is None


def test_subtitles_break_at_sentence_ends():
    words = tuple(Word(w, i * 0.3, i * 0.3 + 0.25, 1.0) for i, w in enumerate("yes he said no i am".split()))
    tokens = ("Yes,", "he", "said.", "No,", "I", "am.")
    assert [c[2] for c in subtitle_cues(words, tokens)] == ["Yes, he said.", "No, I am."]
    assert [c[2] for c in subtitle_cues(words)] == ["yes he said no i am"]


def test_results_keep_raw_and_readable():
    words = (Word("go", 0.0, 0.2, 1.0), Word("for", 0.3, 0.5, 1.0), Word("twelve", 0.6, 0.9, 1.0))
    raw = Transcript(Result("go for twelve", words), 1.0, "a.wav")
    assert raw.readable == "go for twelve" and raw.to_dict()["text"] == "go for twelve"
    assert "raw_text" not in raw.to_dict()
    readable = Transcript(Result("go for twelve", words, ("Go", "for", "12.")), 1.0, "a.wav")
    record = readable.to_dict()
    assert record["text"] == "Go for 12." and record["raw_text"] == "go for twelve"
    assert record["words"] == raw.to_dict()["words"] and readable.text == "go for twelve"


def test_vosk_text_stays_raw_unless_the_client_asks():
    from speechlstm.results import LiveEvent
    event = LiveEvent("final", "go for twelve", 0.0, 0.9, (Word("go", 0.0, 0.2, 1.0),), ("Go", "for", "12."))
    assert vosk.final_message(event)["text"] == "Go for 12." and vosk.final_message(event)["raw_text"] == "go for twelve"
    raw = LiveEvent("final", "go for twelve", 0.0, 0.9, (Word("go", 0.0, 0.2, 1.0),))
    assert vosk.final_message(raw) == {"text": "go for twelve", "result": vosk.final_message(event)["result"]}
    assert vosk.parse_text('{"config": {"sample_rate": 16000}}', vosk.StreamConfig())[1].punctuate is False
    assert vosk.parse_text('{"config": {"punctuate": true}}', vosk.StreamConfig())[1].punctuate is True
    with pytest.raises(vosk.ProtocolError):
        vosk.parse_text('{"config": {"punctuate": "yes"}}', vosk.StreamConfig())


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["text", "tsv", "json", "srt", "vtt"])
def test_transcribe_is_readable_by_default_and_raw_with_raw(capsys, fmt):
    """The shipped models on a sample that says "go forward ten meters"."""
    wav = SAMPLES / "goforward.wav"
    code, readable, err = _run(capsys, "transcribe", "--format", fmt, wav)
    assert code == 0, err
    code, raw, err = _run(capsys, "transcribe", "--format", fmt, "--raw-text", wav)
    assert code == 0, err
    assert "go forward ten meters" in raw and "Go forward 10 meters." in readable
    if fmt == "json":
        record = json.loads(readable)
        assert record["raw_text"] == json.loads(raw)["text"] == "go forward ten meters"
        assert record["words"] == json.loads(raw)["words"]


def test_punctuate_command(capsys, monkeypatch, tmp_path):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("where are you going\n\nGO FOR TWELVE, he said\n"))
    code, out, err = _run(capsys, "punctuate")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:2] == ["Where are you going?", ""]
    assert "12" in lines[2]
    code, out, err = _run(capsys, "punctuate", tmp_path / "missing.txt")
    assert code == 1 and "missing.txt" in err
    code, out, err = _run(capsys, "punctuate", "--model", tmp_path / "missing.onnx", SAMPLES / "goforward.txt")
    assert code == 3 and len(err.strip().splitlines()) == 1


def test_shipped_tagger_on_fixed_sentences():
    punctuator = Punctuator(DEFAULT_PUNCTUATOR)
    assert punctuator.punctuate("where are you going") == "Where are you going?"
    text = punctuator.punctuate("i said that i would come and i came")
    assert text.startswith("I said") and " I would" in text and text.endswith(".")


def test_live_finals_are_readable_and_their_raw_text_unchanged(shipped_bundle):
    import soundfile as sf

    from speechlstm import Recognizer
    from speechlstm.live import transcribe_live
    recognizer = Recognizer.from_bundle(shipped_bundle, mode="streaming")
    samples, rate = sf.read(SAMPLES / "three_utterances.wav", dtype="float32")
    blocks = [(rate, samples[i:i + rate // 10]) for i in range(0, len(samples), rate // 10)]
    events = list(transcribe_live(recognizer, blocks))
    raw = [e for e in transcribe_live(recognizer.with_options(punctuate=False), blocks) if e.kind == "final"]
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 3 and [e.text for e in finals] == [e.text for e in raw]
    assert all(e.readable[0].isupper() and e.readable[-1] in ".?!" for e in finals)
    assert all(len(e.tokens) == len(e.words) for e in events) and not any(e.tokens for e in raw)
    assert finals[0].to_dict()["raw_text"] == finals[0].text


def test_train_punct_takes_the_recipe_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train-punct", "--help"])
    assert exit_info.value.code == 0 and "--minutes" in capsys.readouterr().out
