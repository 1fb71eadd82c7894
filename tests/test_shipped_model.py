"""Behaviour of the shipped model itself: streaming parity on real clips and a sanity bound on accuracy."""
import numpy as np
import pytest
import torch

from conftest import SAMPLES, sample_transcripts
from speechlstm import Recognizer
from speechlstm.cli import main
from speechlstm.decode import decode_matrix
from speechlstm.io.audio import read_audio
from speechlstm.scoring import score
from test_streaming import stream_log_probs


@pytest.fixture(scope="module")
def recognizer(shipped_bundle):
    return Recognizer.from_bundle(shipped_bundle, backend="torch")


def test_cli_text_does_not_depend_on_chunk_ms(capsys, shipped_bundle):
    clips = [str(SAMPLES / "sense_and_sensibility_0890.wav"), str(SAMPLES / "flite_real_time.wav")]
    outputs = []
    for chunk_ms in ("37", "400"):
        assert main(["transcribe", "--model", str(shipped_bundle), "--backend", "torch", "--mode", "streaming",
                     "--chunk-ms", chunk_ms, *clips]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].strip()


def test_stream_equals_chunked_offline_on_a_real_clip(recognizer):
    audio = read_audio(SAMPLES / "sense_and_sensibility_0890.wav")
    frames = recognizer.bundle.feature_extractor()(audio)
    head = recognizer.decoder.head
    with torch.no_grad():
        offline = recognizer.backend.model.forward_chunked(torch.from_numpy(frames)[None], torch.tensor([len(frames)]),
                                                           head=head)[0][0].numpy()
    streamed = stream_log_probs(recognizer, audio, np.random.default_rng(0), head)
    np.testing.assert_allclose(streamed, offline, atol=1e-4)
    texts = [decode_matrix(recognizer.decoder, log_probs).text for log_probs in (streamed, offline)]
    assert texts[0] == texts[1] == recognizer.with_options(mode="streaming").transcribe(audio, 16000).text


def test_samples_are_recognized_better_than_chance(recognizer):
    transcripts = sample_transcripts()
    hypotheses = [recognizer.transcribe_file(path).text for path in transcripts]
    assert score(list(transcripts.values()), hypotheses)["cer"] < 0.6


def test_hotword_recovers_a_misheard_word(shipped_bundle):
    clip = SAMPLES / "sense_and_sensibility_0880.wav"  # "he was not an ill disposed young man"
    plain = Recognizer.from_bundle(shipped_bundle, backend="torch", decoder="beam")
    boosted = plain.with_options(hotwords=["disposed"])  # the default boost
    assert "disposed" not in plain.transcribe_file(clip).text.split()
    assert "disposed" in boosted.transcribe_file(clip).text.split()
