"""The acoustic model: frame stacking, a latency-controlled BiLSTM stack and a CTC head.

One set of weights serves two modes. *Full* runs each direction over the whole utterance.
*Chunked* is the streaming computation: the forward direction carries (h, c) from chunk
to chunk, while the backward direction of every layer reads each chunk plus ``right``
look-ahead steps from a zero state. Training draws the mode per batch so that one model
is good at both.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..bundle import Bundle, BundleError, write_bundle
from ..config import CHAR_HEAD, FrontendConfig, ModelConfig

LSTMState = tuple[torch.Tensor, torch.Tensor]


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's first ``lengths[b]`` steps, leaving padding where it is."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, index[:, :, None].expand_as(x))


class AcousticModel(nn.Module):
    """Log-mel frames (batch, frames, n_mels) in, CTC log-probabilities per stacked step out."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("feat_mean", torch.zeros(config.n_mels))
        self.register_buffer("feat_std", torch.ones(config.n_mels))
        sizes = [config.n_mels * config.stack] + [2 * config.hidden] * (config.layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(n, config.hidden, batch_first=True) for n in sizes)
        self.backward_lstms = nn.ModuleList(nn.LSTM(n, config.hidden, batch_first=True) for n in sizes)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden, config.vocab_size)
        if config.phone_vocab_size:
            self.phone_head = nn.Linear(2 * config.hidden, config.phone_vocab_size)

    def _stack(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalize, then concatenate ``stack`` consecutive frames (dropping a remainder)."""
        k = self.config.stack
        steps = feats.shape[1] // k
        x = (feats[:, : steps * k] - self.feat_mean) / self.feat_std
        return x.reshape(x.shape[0], steps, k * x.shape[2]), torch.div(lengths, k, rounding_mode="floor")

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(x)).log_softmax(-1)

    def phone_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """The phone head's CTC log-probabilities from the top layer's output."""
        return self.phone_head(self.dropout(x)).log_softmax(-1)

    def head_log_probs(self, x: torch.Tensor, head: str = CHAR_HEAD) -> torch.Tensor:
        """Log-probabilities of output ``head`` (``chars`` or ``phones``) from the top layer's output."""
        if head == "chars":
            return self._logits(x)
        if head == "phones" and self.config.phone_vocab_size:
            return self.phone_log_probs(x)
        raise ValueError(f"this model has no {head!r} head")

    def zero_state(self, batch: int = 1) -> list[LSTMState]:
        """The forward direction's state before any audio, one (h, c) per layer."""
        h = torch.zeros(1, batch, self.config.hidden, device=self.feat_mean.device)
        return [(h, h.clone()) for _ in range(self.config.layers)]

    def forward_full(self, feats: torch.Tensor, lengths: torch.Tensor,
                     head: str = CHAR_HEAD) -> tuple[torch.Tensor, torch.Tensor]:
        """Plain BiLSTM over whole utterances; returns (``head``'s log-probs, output lengths)."""
        x, out_lengths = self.encode_full(feats, lengths)
        return self.head_log_probs(x, head), out_lengths

    def encode_full(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The top BiLSTM layer's output over whole utterances, and its lengths."""
        x, out_lengths = self._stack(feats, lengths)
        for index, (fwd, bwd) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            if index:
                x = self.dropout(x)
            forward_out, _ = fwd(x)
            backward_out, _ = bwd(reverse_within(x, out_lengths))
            x = torch.cat([forward_out, reverse_within(backward_out, out_lengths)], dim=-1)
        return x, out_lengths

    def forward_chunked(self, feats: torch.Tensor, lengths: torch.Tensor, chunk: int | None = None,
                        right: int | None = None, state: list[LSTMState] | None = None,
                        main_steps: int | None = None, head: str = CHAR_HEAD
                        ) -> tuple[torch.Tensor, torch.Tensor, list[LSTMState]]:
        """Latency-controlled BiLSTM over chunks of ``chunk`` steps with ``right`` look-ahead.

        ``main_steps`` limits the steps that get outputs (the rest is look-ahead only, as in
        a stream); ``state`` continues the forward direction. Returns (``head``'s log-probs for
        the main steps, output lengths, forward state after the last chunk).
        """
        x, out_lengths, new_state = self.encode_chunked(feats, lengths, chunk, right, state, main_steps)
        return self.head_log_probs(x, head), out_lengths, new_state

    def encode_chunked(self, feats: torch.Tensor, lengths: torch.Tensor, chunk: int | None = None,
                       right: int | None = None, state: list[LSTMState] | None = None,
                       main_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor, list[LSTMState]]:
        """:meth:`forward_chunked` up to the top layer's output (before any head)."""
        chunk = chunk or self.config.chunk
        right = self.config.right if right is None else right
        x, total = self._stack(feats, lengths)
        batch, steps, _ = x.shape
        main = steps if main_steps is None else main_steps
        n_chunks = max(1, -(-main // chunk))
        padded = n_chunks * chunk + right
        x = nn.functional.pad(x, (0, 0, 0, max(0, padded - steps)))[:, :padded]
        starts = torch.arange(n_chunks, device=x.device) * chunk
        window = torch.clamp(total.to(x.device)[:, None] - starts[None, :], 0, chunk + right)
        window = window.reshape(-1).clamp(min=1)
        look_index = (starts[:, None] + chunk + torch.arange(right, device=x.device)[None, :]).reshape(-1)
        mains = x[:, : n_chunks * chunk]
        looks = x[:, look_index].reshape(batch, n_chunks, right, x.shape[2])
        state = state or self.zero_state(batch)
        new_state: list[LSTMState] = []
        hidden = self.config.hidden
        for index, (fwd, bwd) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            if index:
                mains, looks = self.dropout(mains), self.dropout(looks)
                forward_main, forward_look, final = self._forward_chunks(fwd, mains, looks, state[index], chunk)
            else:
                forward_main, forward_look, final = self._forward_through(fwd, x, state[index], n_chunks * chunk,
                                                                          look_index)
            new_state.append(final)
            width = mains.shape[2]
            segments = torch.cat([mains.reshape(batch, n_chunks, chunk, width), looks], dim=2)
            segments = segments.reshape(batch * n_chunks, chunk + right, width)
            backward, _ = bwd(reverse_within(segments, window))
            backward = reverse_within(backward, window).reshape(batch, n_chunks, chunk + right, hidden)
            mains = torch.cat([forward_main, backward[:, :, :chunk].reshape(batch, n_chunks * chunk, hidden)], -1)
            looks = torch.cat([forward_look.reshape(batch, n_chunks, right, hidden), backward[:, :, chunk:]], dim=-1)
        out_lengths = torch.clamp(total, max=main)
        return mains[:, :main], out_lengths, new_state

    @staticmethod
    def _forward_through(fwd: nn.LSTM, x: torch.Tensor, state: LSTMState, main: int,
                         look_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """The forward direction where every chunk's look-ahead is the next steps of the input
        itself (the first layer): one pass over the mains, one over the last look-ahead.

        Returns (outputs of the mains, outputs of the look-ahead steps, state after the mains).
        """
        forward_main, final = fwd(x[:, :main], state)
        through = forward_main
        if x.shape[1] > main:
            tail, _ = fwd(x[:, main:], final)
            through = torch.cat([forward_main, tail], dim=1)
        return forward_main, through[:, look_index], final

    @staticmethod
    def _forward_chunks(fwd: nn.LSTM, mains: torch.Tensor, looks: torch.Tensor, state: LSTMState,
                        chunk: int) -> tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """The forward direction over chunks whose look-ahead differs from the next chunk (the
        layers above the first): chunk by chunk, each chunk's look-ahead from its end state.

        ``split`` rather than slicing: the gradient of each slice would be a full-size zero tensor.
        """
        batch, n_chunks, right, _ = looks.shape
        forward_parts, ends = [], []
        for part in mains.split(chunk, dim=1):
            out, state = fwd(part, state)
            forward_parts.append(out)
            ends.append(state)
        forward_look = looks.new_zeros(batch, 0, fwd.hidden_size)
        if right:
            h0, c0 = (torch.stack(side, dim=2).reshape(1, batch * n_chunks, -1) for side in zip(*ends))
            forward_look, _ = fwd(looks.reshape(batch * n_chunks, right, looks.shape[3]), (h0, c0))
        return torch.cat(forward_parts, dim=1), forward_look, state

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, chunk: int | None = None,
                right: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Full mode when ``chunk`` is None, else chunked; the training entry point.

        Returns (character log-probs, phone log-probs or None without a phone head, lengths).
        """
        if chunk is None:
            x, out_lengths = self.encode_full(feats, lengths)
        else:
            x, out_lengths, _ = self.encode_chunked(feats, lengths, chunk, right)
        phones = self.phone_log_probs(x) if self.config.phone_vocab_size else None
        return self._logits(x), phones, out_lengths


def model_from_bundle(bundle: Bundle) -> AcousticModel:
    """A float32 model in eval mode with the bundle's weights."""
    try:
        model = AcousticModel(bundle.model)
    except TypeError as error:
        raise BundleError(f"{bundle.source}: model settings do not fit this speechlstm ({error})") from None
    state = {name: torch.from_numpy(array.astype(np.float32)) for name, array in bundle.tensors.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise BundleError(f"{bundle.source}: weights do not fit the model config: "
                          f"{str(error).splitlines()[0]}") from None
    return model.eval()


def save_bundle(path: str | Path, model: AcousticModel, frontend: FrontendConfig, info: dict | None = None,
                dtype: Any = np.float16, train: dict | None = None) -> Path:
    """Write ``model``, its configs and (for a trained model) its training config to ``path``
    atomically, weights stored as ``dtype``."""
    tensors = {name: value.detach().cpu().numpy() for name, value in model.state_dict().items()}
    return write_bundle(path, tensors, frontend, model.config, info, train, dtype)
