"""Recognizer defaults that users never set: the thread count."""
from __future__ import annotations

import pytest

from speechlstm import Recognizer, RecognizerConfig
from speechlstm.cli import build_parser


@pytest.mark.parametrize("command", [["transcribe", "x.wav"], ["eval", "dev.tsv"], ["live"]])
def test_one_thread_by_default_on_the_command_line(command):
    """More threads were slower for these batch-1 matrices (RESULTS.md: 'Threads')."""
    assert build_parser().parse_args(command).threads == 1


def test_one_thread_by_default_in_the_api(tiny_bundle):
    import torch

    assert RecognizerConfig().threads == 1
    onnx = Recognizer.from_bundle()  # the shipped model's int8 graph
    assert onnx.config.backend == "onnx-int8"
    assert [s.get_session_options().intra_op_num_threads for s in onnx.backend._sessions.values()] == [1]
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        Recognizer.from_bundle(tiny_bundle, backend="torch")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)
