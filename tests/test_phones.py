"""The auxiliary phone head: lexicon targets, the head beside the character head, and its bundle."""
import gzip
import random

import numpy as np
import torch

from speechlstm.bundle import load_bundle
from speechlstm.config import FrontendConfig, ModelConfig
from speechlstm.nn.data import bucket_batches
from speechlstm.nn.model import AcousticModel, model_from_bundle, save_bundle
from speechlstm.nn.train import split_repeat
from speechlstm.phones import PHONES, WORD_BOUNDARY, read_lexicon, text_to_phone_ids


def test_lexicon_targets_drop_stress_and_mark_word_boundaries(tmp_path):
    path = tmp_path / "lexicon.txt.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("THE\tDH AH0\nTHE\tDH IY0\nCAT\tK AE1 T\n")
    lexicon = read_lexicon(path)
    assert lexicon["the"] == ("DH", "AH")
    ids = text_to_phone_ids("The CAT", lexicon)
    assert [PHONES[i] for i in ids] == ["DH", "AH", WORD_BOUNDARY, "K", "AE", "T"]
    assert text_to_phone_ids("the dog", lexicon) is None


def test_phone_head_trains_beside_the_character_head_and_round_trips(tmp_path):
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(hidden=16, layers=2, chunk=4, right=2, phone_vocab_size=len(PHONES)))
    x, lengths = torch.randn(2, 60, 80), torch.tensor([60, 45])
    chars, phones, out_lengths = model(x, lengths, 4, 2)
    assert chars.shape == (2, 20, 29) and phones.shape == (2, 20, len(PHONES))
    assert out_lengths.tolist() == [20, 15]
    path = save_bundle(tmp_path / "phones.safetensors", model, FrontendConfig(), dtype=np.float32)
    loaded = model_from_bundle(load_bundle(path))
    assert loaded.config.phone_vocab_size == len(PHONES)
    with torch.no_grad():
        torch.testing.assert_close(loaded.forward_full(x, lengths)[0], model.eval().forward_full(x, lengths)[0])


def test_fractional_repeats_sample_part_of_a_set():
    weights = [0.25] * 400 + [2.0] * 10
    items = [i for b in bucket_batches([1.0] * 410, weights, 50.0, random.Random(0)) for i in b]
    assert sum(i >= 400 for i in items) == 20
    assert 60 < sum(i < 400 for i in items) < 140
    assert split_repeat("data/a.tsv:0.5") == ("data/a.tsv", 0.5)
    assert split_repeat("data/a.tsv:3") == ("data/a.tsv", 3.0)
    assert split_repeat("c:/data/a.tsv") == ("c:/data/a.tsv", 1.0)
