"""CTC decoding: greedy (:mod:`.greedy`), our prefix beam search (:mod:`.beam_search`),
flashlight-text's lexicon beam search over characters or phones (:mod:`.flashlight`), hotwords
(:mod:`.hotwords`), the ARPA LM reader (:mod:`.lm`) and builder (:mod:`.lm_builder`).
:func:`build_decoder` makes the decoder a :class:`~speechlstm.config.DecodingConfig` asks for, and
:func:`decoder_head` says which model output it reads."""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from ..config import CHAR_HEAD, ConfigError, DecodingConfig
from ..errors import MissingPackageError, ModelError, ModelFileError
from ..model_files import LEXICON_FILE, LM_FILE, companion_file, missing_model_hint
from ..phones import PHONES
from .base import Decoder, decode_matrix
from .greedy import GreedyDecoder

if TYPE_CHECKING:
    from ..bundle import Bundle

__all__ = ["Decoder", "beam_decoder_kind", "build_decoder", "build_grammar_decoder", "decode_matrix", "decoder_head"]


def beam_decoder_kind(decoding: DecodingConfig) -> str:
    """Which decoder ``decoding`` gets: ``beam`` resolves to ``lexicon`` where it can run, else ``prefix``."""
    if decoding.decoder != "beam":
        return decoding.decoder
    from .flashlight import AVAILABLE
    return "lexicon" if AVAILABLE and decoding.lm is not None else "prefix"


def decoder_head(bundle: Bundle, decoding: DecodingConfig, model: str | Path | None = None,
                 heads: Sequence[str] = (CHAR_HEAD,)) -> tuple[str, Path | None]:
    """The model output ``decoding`` reads (``chars`` or ``phones``, see :class:`DecodingConfig`)
    and, for phones, the pronunciation lexicon; ``heads`` are those the backend computes."""
    lexicon = companion_file(model, LEXICON_FILE) if decoding.lexicon == "auto" else Path(decoding.lexicon)
    has_phones = "phones" in heads and bundle.model.phone_vocab_size == len(PHONES)
    lexicon_decoder = beam_decoder_kind(decoding) == "lexicon"
    if decoding.head == CHAR_HEAD:
        return CHAR_HEAD, None
    named = decoding.lexicon != "auto"  # a lexicon the caller named must exist (checked below)
    if decoding.head == "auto" and not (has_phones and lexicon_decoder and (named or lexicon.is_file())):
        return CHAR_HEAD, None
    if not has_phones:
        raise ModelError(f"{bundle.source}: this model (or its export) has no phone head; use head='chars'")
    if not lexicon_decoder:  # decoder beam without flashlight-text (DecodingConfig refuses the rest)
        raise MissingPackageError("the phone head is decoded only by the lexicon decoder, which needs "
                                  "flashlight-text (pip install 'speechlstm[flashlight]')")
    if not lexicon.is_file():
        raise ModelFileError(f"pronunciation lexicon not found: {lexicon}{missing_model_hint(lexicon)}")
    return "phones", lexicon


def build_decoder(bundle: Bundle, decoding: DecodingConfig, model: str | Path | None = None,
                  hotwords: Mapping[str, float] | None = None, heads: Sequence[str] = (CHAR_HEAD,)) -> Decoder:
    """Greedy, or a beam search with the configured LM (read once per process) and hotwords.

    ``model`` is where the model came from (``lm="auto"`` and ``lexicon="auto"`` take the files
    beside it); ``hotwords``, when given, replace ``decoding.hotwords``; ``heads`` are the
    outputs the backend computes (:func:`decoder_head`).
    """
    if hotwords is not None:
        decoding = replace(decoding, hotwords=tuple(hotwords.items()))  # DecodingConfig checks they fit the decoder
    hotwords = dict(decoding.hotwords)
    head, lexicon = decoder_head(bundle, decoding, model, heads)
    if decoding.decoder == "greedy":
        return GreedyDecoder(bundle.frame_shift, bundle.vocabulary)
    kind = beam_decoder_kind(decoding)
    beam_size, alpha, beta = decoding.beam_settings(kind)
    path = None
    if decoding.lm is not None:
        path = companion_file(model, LM_FILE) if decoding.lm == "auto" else Path(decoding.lm)
        if not path.is_file():
            raise ModelFileError(f"language model not found: {path}{missing_model_hint(path)}")
    if kind == "lexicon":
        from .flashlight import LexiconBeamDecoder
        if path is None:
            raise ConfigError("the lexicon decoder needs a language model (its words are the lexicon)")
        vocabulary = PHONES if head == "phones" else bundle.vocabulary
        return LexiconBeamDecoder(bundle.frame_shift, vocabulary, lm=path, alpha=alpha, beta=beta, beam_size=beam_size,
                                  hotwords=hotwords, lexicon=lexicon, spelling=decoding.spelling)
    from .beam_search import BeamSearchDecoder
    from .lm import load_lm
    return BeamSearchDecoder(bundle.frame_shift, bundle.vocabulary, lm=load_lm(path) if path else None, alpha=alpha,
                             beta=beta, beam_size=beam_size, hotwords=hotwords)


UNKNOWN_PHRASE = "[unk]"
"""What a vosk grammar lists to allow other words; accepted, not modelled (no garbage model here)."""


def build_grammar_decoder(bundle: Bundle, decoding: DecodingConfig, phrases: Sequence[str]) -> Decoder:
    """A decoder that outputs only ``phrases`` (a vosk grammar): flashlight's lexicon decoder over
    the characters of their words, with a bigram LM estimated on the phrases themselves."""
    from ..text import normalize_text
    from .flashlight import AVAILABLE, LexiconBeamDecoder
    from .hotwords import check_hotwords
    from .lm_builder import ArpaBuilder
    if not AVAILABLE:
        raise ConfigError("a phrase list needs flashlight-text (pip install 'speechlstm[flashlight]')")
    wanted = [phrase for phrase in phrases if phrase.strip().lower() != UNKNOWN_PHRASE]
    check_hotwords(wanted, bundle.vocabulary)
    texts = sorted({normalize_text(phrase) for phrase in wanted} - {""})
    if not texts:
        raise ConfigError("the phrase list has no phrase to decode")
    builder = ArpaBuilder(sorted({word for text in texts for word in text.split()}), order=2)
    builder.add(texts)
    beam_size, alpha, beta = decoding.beam_settings("lexicon")
    with tempfile.NamedTemporaryFile("w", suffix=".arpa", encoding="utf-8") as arpa:
        builder.write_arpa(builder.estimate(), arpa)
        arpa.flush()
        return LexiconBeamDecoder(bundle.frame_shift, bundle.vocabulary, lm=arpa.name, alpha=alpha, beta=beta,
                                  beam_size=beam_size, cache_lm=False)
