"""The torch backend: an :class:`~speechlstm.nn.model.AcousticModel` for streams and whole files
(numpy in, numpy out). With :mod:`speechlstm.nn`, the only place that imports torch."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ..bundle import Bundle
from ..config import CHAR_HEAD

if TYPE_CHECKING:
    from ..nn.model import AcousticModel


class TorchBackend:
    """Runs an :class:`AcousticModel` for a stream or a whole file (numpy in, numpy out)."""

    def __init__(self, model: "AcousticModel") -> None:
        self.model = model.eval()
        self.stack, self.chunk, self.right = model.config.stack, model.config.chunk, model.config.right
        self.heads = ("chars", "phones") if model.config.phone_vocab_size else ("chars",)

    @classmethod
    def from_bundle(cls, bundle: Bundle, threads: int = 1) -> "TorchBackend":
        """The bundle's weights in a float32 model; ``threads`` sets torch's (0: its default)."""
        from ..nn.model import model_from_bundle
        if threads:
            torch.set_num_threads(threads)
        return cls(model_from_bundle(bundle))

    def initial_state(self) -> list:
        return self.model.zero_state()

    @torch.inference_mode()
    def step(self, frames: np.ndarray, main_steps: int, state: list, head: str = CHAR_HEAD) -> tuple[np.ndarray, list]:
        x = torch.from_numpy(np.ascontiguousarray(frames))[None]
        log_probs, _, state = self.model.forward_chunked(x, torch.tensor([len(frames)]), state=state,
                                                         main_steps=main_steps, head=head)
        return log_probs[0].numpy(), state

    @torch.inference_mode()
    def step_batch(self, frames: Sequence[np.ndarray], main_steps: int,
                   states: Sequence[list], head: str = CHAR_HEAD) -> tuple[list[np.ndarray], list[list]]:
        """One batched chunk: the streams' frames (all the same length) and states stacked on the
        batch axis; every stream gets its own rows back."""
        if len(frames) == 1:
            log_probs, state = self.step(frames[0], main_steps, states[0], head)
            return [log_probs], [state]
        x = torch.from_numpy(np.stack([np.ascontiguousarray(f) for f in frames]))
        lengths = torch.full((len(frames),), x.shape[1])
        state = [(torch.cat([s[layer][0] for s in states], dim=1), torch.cat([s[layer][1] for s in states], dim=1))
                 for layer in range(len(states[0]))]
        log_probs, _, state = self.model.forward_chunked(x, lengths, state=state, main_steps=main_steps, head=head)
        split = [[(h[:, i:i + 1], c[:, i:i + 1]) for h, c in state] for i in range(len(frames))]
        return list(log_probs.numpy()), split

    @torch.inference_mode()
    def full(self, frames: np.ndarray, head: str = CHAR_HEAD) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(frames))[None]
        if len(frames) < self.stack:
            return self.model.head_log_probs(x.new_zeros(1, 0, 2 * self.model.config.hidden), head)[0].numpy()
        return self.model.forward_full(x, torch.tensor([len(frames)]), head)[0][0].numpy()
