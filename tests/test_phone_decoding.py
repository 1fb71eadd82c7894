"""Decoding the phone head: the lexicon decoder over pronunciations, hotwords through espeak-ng,
the head in ONNX exports, and how a recognizer chooses the head."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from speechlstm import Recognizer
from speechlstm.backends.onnx import load_onnx
from speechlstm.backends.torch import TorchBackend
from speechlstm.bundle import load_bundle
from speechlstm.cli import main
from speechlstm.config import DecodingConfig, FrontendConfig, ModelConfig
from speechlstm.decode import decode_matrix, flashlight
from speechlstm.errors import ModelError, ModelFileError
from speechlstm.g2p import arpabet_from_espeak, espeak_available, pronounce
from speechlstm.nn.export import export
from speechlstm.nn.model import AcousticModel, model_from_bundle, save_bundle
from speechlstm.phones import PHONES, WORD_BOUNDARY

pytestmark = pytest.mark.skipif(not flashlight.AVAILABLE, reason="flashlight-text is not installed")
FRAME = 0.03
INDEX = {p: i for i, p in enumerate(PHONES)}
ARPA = """\\data\\
ngram 1=8
ngram 2=1

\\1-grams:
-2.0\t<unk>
-99\t<s>\t-0.3
-1.0\t</s>
-1.0\tthe\t-0.3
-2.0\tcat\t-0.3
-2.5\tkat\t-0.3
-1.5\tsat\t-0.3
-2.0\tmetres\t-0.3

\\2-grams:
-0.3\t<s> the

\\end\\
"""
LEXICON = "THE\tDH AH0\nTHE\tDH IY0\nCAT\tK AE1 T\nKAT\tK AE1 T\nSAT\tS AE1 T\nMETRES\tM IY1 T ER0 Z\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("phones")
    (folder / "lm.arpa").write_text(ARPA)
    with gzip.open(folder / "lexicon.txt.gz", "wt") as handle:
        handle.write(LEXICON)
    return folder / "lm.arpa", folder / "lexicon.txt.gz"


def say(*words: tuple[str, ...], peak: float = 0.9) -> np.ndarray:
    """Phone log-probs: each phone 2 frames then a blank, a boundary frame between words."""
    path: list[int] = []
    for number, phones in enumerate(words):
        if number:
            path += [INDEX[WORD_BOUNDARY], 0]
        for phone in phones:
            path += [INDEX[phone]] * 2 + [0]
    probs = np.full((len(path), len(PHONES)), (1 - peak) / len(PHONES))
    probs[np.arange(len(path)), path] = peak
    return np.log(probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def decoder(files, **options) -> flashlight.LexiconBeamDecoder:
    lm, lexicon = files
    return flashlight.LexiconBeamDecoder(FRAME, PHONES, lm=lm, lexicon=lexicon, alpha=0.5, beta=0.0, **options)


def test_words_are_spelled_by_their_pronunciations_with_times(files):
    log_probs = say(("DH", "IY"), ("K", "AE", "T"), ("S", "AE", "T"))
    result = decode_matrix(decoder(files), log_probs)
    assert result.text == "the cat sat"  # "cat" and "kat" sound alike: the LM picks the likelier one
    assert [round(w.start / FRAME) for w in result.words] == [0, 8, 19]
    assert [round(w.end / FRAME) for w in result.words] == [4, 15, 26]  # a word ends after the first frame of its last phone
    assert all(0.8 < w.confidence <= 1.0 for w in result.words)


def test_partial_results_show_a_word_spelled_out_before_its_boundary(files):
    d = decoder(files)
    state = d.new_state()
    d.advance(state, say(("DH", "AH"), ("K", "AE", "T")))
    assert d.result(state).text == "the cat"
    assert d.result(state, final=True).text == "the cat"


def test_chunked_phone_decoding_equals_whole(files):
    log_probs = say(("DH", "AH"), ("K", "AE", "T"), ("S", "AE", "T"))
    d = decoder(files, hotwords={"kat": 3.0})
    state = d.new_state()
    for part in np.array_split(log_probs, 7):
        d.advance(state, part)
    assert d.result(state, final=True) == decode_matrix(d, log_probs)
    assert d.result(state, final=True).text == "the kat sat"


@pytest.mark.parametrize("options, expected", [({}, "the meters"), ({"spelling": "lm"}, "the metres"),
                                               ({"hotwords": {"metres": 2.0}}, "the metres")])
def test_british_words_of_the_lm_are_written_in_american_unless_asked(files, options, expected):
    d = decoder(files, **options)
    state = d.new_state()
    d.advance(state, say(("DH", "AH"), ("M", "IY", "T", "ER", "Z")))
    assert d.result(state).text == expected  # the partial, before the word's boundary
    assert d.result(state, final=True).text == expected


def test_the_spelling_table_maps_british_homophones_to_american_ones():
    from speechlstm.spelling import american_spelling
    table = american_spelling()
    assert table["colour"] == "color" and table["metres"] == "meters" and table["honour's"] == "honor's"
    assert not {"color", "meters", "program"} & set(table)
    assert all(british.endswith("'s") == american.endswith("'s") for british, american in table.items())
    with pytest.raises(ValueError, match="spelling must be one of"):
        DecodingConfig(spelling="british")


def test_espeak_mnemonics_map_to_arpabet():
    assert arpabet_from_espeak("dZ_'V_dZ") == ("JH", "AH", "JH")
    assert arpabet_from_espeak("b_'O@_r_i") == ("B", "AO", "R", "IY")  # one R after an r-coloured vowel
    assert arpabet_from_espeak("b_'V_?_n-") == ("B", "AH", "T", "AH", "N")


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_hotwords_outside_the_lexicon_are_pronounced_by_espeak(files):
    marianne = pronounce("marianne")
    assert marianne[0] == "M" and marianne[-1] == "N"
    log_probs = say(("DH", "AH"), marianne, ("S", "AE", "T"))
    assert "marianne" not in decode_matrix(decoder(files), log_probs).text
    result = decode_matrix(decoder(files, hotwords={"Marianne": 8.0, "new cat": 2.0}), log_probs)
    assert result.text == "the marianne sat"
    assert result.words[1].word == "marianne"


@pytest.fixture(scope="module")
def phone_bundle(tmp_path_factory, files) -> Path:
    """A tiny random model with a phone head, its LM and lexicon beside it, and its fp32 export."""
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(hidden=24, layers=2, chunk=5, right=3, phone_vocab_size=len(PHONES)))
    folder = tmp_path_factory.mktemp("phone_model")
    path = save_bundle(folder / "tiny.safetensors", model, FrontendConfig(), dtype=np.float32)
    shutil.copy(files[0], folder / "lm.arpa")
    shutil.copy(files[1], folder / "lexicon.txt.gz")
    export(path, folder)
    return path


def test_exported_graphs_compute_the_phone_head_as_torch_does(phone_bundle):
    torch_backend = TorchBackend(model_from_bundle(load_bundle(phone_bundle)))
    _, onnx_backend = load_onnx(phone_bundle, int8=False)
    assert onnx_backend.heads == torch_backend.heads == ("chars", "phones")
    frames = np.random.default_rng(1).standard_normal((64, 80)).astype(np.float32)
    for head in ("chars", "phones"):
        np.testing.assert_allclose(onnx_backend.full(frames, head), torch_backend.full(frames, head), atol=1e-4)
        ours, _ = onnx_backend.step(frames[:24], 5, onnx_backend.initial_state(), head)
        theirs, _ = torch_backend.step(frames[:24], 5, torch_backend.initial_state(), head)
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert onnx_backend.full(frames[:2], "phones").shape == (0, len(PHONES))


def test_the_recognizer_decodes_phones_where_it_can(phone_bundle, tiny_bundle):
    lm = phone_bundle.parent / "lm.arpa"
    for backend in ("torch", "onnx"):
        recognizer = Recognizer.from_bundle(phone_bundle, backend=backend, lm=lm)
        assert recognizer.decoder.head == "phones"
        assert Recognizer.from_bundle(phone_bundle, backend=backend, lm=lm, head="chars").decoder.head == "chars"
        assert Recognizer.from_bundle(phone_bundle, backend=backend, decoder="greedy").decoder.head == "chars"
    assert Recognizer.from_bundle(tiny_bundle, backend="torch", lm=lm).decoder.head == "chars"
    with pytest.raises(ModelError, match="no phone head"):
        Recognizer.from_bundle(tiny_bundle, backend="torch", lm=lm, head="phones")
    with pytest.raises(ValueError, match="only by the lexicon decoder"):
        Recognizer.from_bundle(phone_bundle, backend="torch", decoder="greedy", head="phones")
    for head in ("phones", "auto"):  # a lexicon named but missing is an error, not a quiet fallback
        with pytest.raises(ModelFileError, match="pronunciation lexicon not found"):
            Recognizer.from_bundle(phone_bundle, backend="torch", lm=lm, head=head, lexicon="/nonexistent.txt")
    with pytest.raises(ValueError, match="head must be one of"):
        DecodingConfig(head="words")


def test_the_spelling_option_reaches_the_decoder(phone_bundle):
    from speechlstm.cli import build_parser
    from speechlstm.cli.common import recognizer_config
    lm = phone_bundle.parent / "lm.arpa"
    for argv, expected in (([], "meters"), (["--spelling", "lm"], "metres")):
        config = recognizer_config(build_parser().parse_args(["transcribe", *argv, "x.wav"]))
        recognizer = Recognizer.from_bundle(phone_bundle, backend="torch", lm=lm, spelling=config.decoding.spelling)
        assert expected in recognizer.decoder.texts.values()


def test_streams_of_a_phone_recognizer_decode_together_as_alone(phone_bundle):
    recognizer = Recognizer.from_bundle(phone_bundle, backend="torch", lm=phone_bundle.parent / "lm.arpa")
    rng = np.random.default_rng(2)
    signals = [rng.standard_normal(16000 * n // 2).astype(np.float32) * 0.1 for n in (2, 3, 4)]
    alone = [recognizer.transcribe(s, 16000, mode="streaming").result for s in signals]
    streams = [recognizer.create_stream() for _ in signals]
    for stream, signal in zip(streams, signals):
        stream.accept_waveform(16000, signal)
        stream.input_finished()
    while recognizer.decode_streams(streams):
        pass
    together = [recognizer.get_result(s) for s in streams]
    assert [r.text for r in together] == [r.text for r in alone]
    for ours, theirs in zip(together, alone):  # batched LSTM sums round differently in the last bits
        assert [(w.start, w.end) for w in ours.words] == [(w.start, w.end) for w in theirs.words]
        assert [w.confidence for w in ours.words] == pytest.approx([w.confidence for w in theirs.words])


def test_build_lexicon_writes_the_pronunciations_of_the_lm_words(files, tmp_path, capsys):
    out = tmp_path / "lexicon.txt.gz"
    assert main(["build-lexicon", "--lm", str(files[0]), "--pronunciations", str(files[1]),
                 "--variants", "1", "-o", str(out)]) == 0
    with gzip.open(out, "rt") as handle:
        assert handle.read() == "the\tDH AH\ncat\tK AE T\nkat\tK AE T\nsat\tS AE T\nmetres\tM IY T ER Z\n"
    assert "5 pronunciations of 5 of the 8 LM words" in capsys.readouterr().err
    assert main(["build-lexicon", "--lm", str(tmp_path / "missing.arpa"), "--pronunciations", str(files[1]),
                 "-o", str(out)]) == 1
    capsys.readouterr()
    unwritable = tmp_path / "no such folder" / "lexicon.txt"  # a failed write is an output error: exit 4
    assert main(["build-lexicon", "--lm", str(files[0]), "--pronunciations", str(files[1]), "-o", str(unwritable)]) == 4
    assert capsys.readouterr().err.startswith(f"speechlstm: error: cannot write {unwritable}")


@pytest.mark.parametrize("options", [["--decoder", "greedy"], ["--decoder", "prefix"], ["--lm", "none"]])
def test_cli_refuses_phones_without_the_lexicon_decoder(options, capsys):
    assert main(["transcribe", "--head", "phones", *options, "missing.wav"]) == 2
    assert "the phone head is decoded only by the lexicon decoder" in capsys.readouterr().err
