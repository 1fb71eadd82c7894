"""CTC decoding: greedy (:mod:`.greedy`), our prefix beam search (:mod:`.beam_search`),
flashlight-text's lexicon beam search (:mod:`.flashlight`), hotwords (:mod:`.hotwords`), the
ARPA LM reader (:mod:`.lm`) and builder (:mod:`.lm_builder`). :func:`build_decoder` makes the
decoder a :class:`~speechlstm.config.DecodingConfig` asks for."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..config import DecodingConfig
from .base import Decoder, decode_matrix

if TYPE_CHECKING:
    from ..bundle import Bundle

__all__ = ["Decoder", "beam_decoder_kind", "build_decoder", "decode_matrix"]


def beam_decoder_kind(decoding: DecodingConfig) -> str:
    """Which decoder ``decoding`` gets: ``beam`` resolves to ``lexicon`` where it can run, else ``prefix``."""
    if decoding.decoder != "beam":
        return decoding.decoder
    from .flashlight import AVAILABLE
    return "lexicon" if AVAILABLE and decoding.lm is not None else "prefix"


def build_decoder(bundle: Bundle, decoding: DecodingConfig, model: str | Path | None = None,
                  hotwords: Mapping[str, float] | None = None) -> Decoder:
    """Greedy, or a beam search with the configured LM (read once per process) and hotwords.

    ``model`` is where the model came from (``lm="auto"`` takes the LM beside it); ``hotwords``,
    when given, replace ``decoding.hotwords``.
    """
    from ..bundle import BundleError, default_lm, missing_model_hint
    hotwords = dict(decoding.hotwords) if hotwords is None else dict(hotwords)
    if decoding.decoder == "greedy":
        if hotwords:
            raise ValueError("hotwords need a beam decoder (decoder='beam')")
        return bundle.decoder()
    kind = beam_decoder_kind(decoding)
    beam_size, alpha, beta = decoding.beam_settings(kind)
    path = None
    if decoding.lm is not None:
        path = default_lm(model) if decoding.lm == "auto" else Path(decoding.lm)
        if not path.is_file():
            raise BundleError(f"language model not found: {path}{missing_model_hint(path)}")
    if kind == "lexicon":
        from .flashlight import FlashlightError, LexiconBeamDecoder
        if path is None:
            raise ValueError("the lexicon decoder needs a language model (its words are the lexicon)")
        try:
            return LexiconBeamDecoder(bundle.frame_shift, bundle.vocabulary, lm=path, alpha=alpha, beta=beta,
                                      beam_size=beam_size, hotwords=hotwords)
        except FlashlightError as error:
            raise BundleError(str(error)) from None
    from .beam_search import BeamSearchDecoder
    from .lm import load_lm
    return BeamSearchDecoder(bundle.frame_shift, bundle.vocabulary, lm=load_lm(path) if path else None, alpha=alpha,
                             beta=beta, beam_size=beam_size, hotwords=hotwords)
