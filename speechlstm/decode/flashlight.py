"""Lexicon-constrained CTC beam search over a KenLM word n-gram, with flashlight-text.

Why: flashlight-text's ``LexiconDecoder`` (the C++ decoder torchaudio's ``ctc_decoder``
wraps) searches only spellings of known words, scores every word with KenLM as soon as it
is spelled, and runs a 50-wide beam in less time than our Python prefix search needs for
16. On dev, with the same log-probs and LM, it gives 42.7 % WER offline and 44.2 %
streaming against 50.2 % and 50.8 %, at 1.6 ms of CPU per 300 ms chunk against 5.2
(``tools/compare_decoders.py``, RESULTS.md). It is therefore the default beam decoder
wherever ``flashlight-text`` is installed (a base dependency where it has wheels);
:class:`~speechlstm.decode.beam_search.BeamSearchDecoder` is the fallback.

The lexicon is the LM's vocabulary, each word spelled with our characters and closed by
the space token, as torchaudio spells words with its ``|`` separator. The model need not
emit a space after the last word, so the final result feeds one extra frame that is
certainly a space. Only lexicon words can be output; hotwords add their spellings.

Scores use our units: ``alpha`` multiplies natural-log LM probabilities (KenLM's log10
scores are converted) and ``beta`` is added per word, as in the prefix beam search.

Hotwords: each word or phrase becomes a lexicon entry (a phrase is spelled with its
spaces), and the LM wrapper :class:`_BoostedLM` scores an entry as its words' KenLM
probabilities plus the boost; the entry's lookahead score in the trie includes the boost,
so a hypothesis holds the boost while it spells the entry and loses it when it turns away,
as in the prefix search. Words outside the LM score as ``<unk>`` plus the boost. The
wrapper is Python called from C++, so decoding with hotwords costs up to twice the CPU
(dev: 3.0 s without, 4.9-6.2 s with one to three hotwords).

Phones: with the model's phone head (blank, word boundary ``|``, 39 ARPAbet phones) the
lexicon spells each LM word by its pronunciations (a pronunciation lexicon, ``WORD<TAB>PHONES``,
ships beside the LM) closed by the boundary, and the decoder reads the phone log-probs. A
word's text is then the label the search emits, not its tokens; a hotword outside the
lexicon is pronounced by espeak-ng (:mod:`speechlstm.g2p`). Partial results show a word that
is spelled out but not yet closed by a boundary when its phones are exactly one of its
pronunciations (the most frequent such word).

Spelling: the LM's words are written in American spelling by default ("metres" -> "meters",
:mod:`speechlstm.spelling`): homophones over the phone head are chosen by the LM's book text.

Streaming: one flashlight decoder per stream, fed chunk by chunk with ``decode_step``.
flashlight keeps every frame's hypotheses until told to prune, so once ``commit_frames``
frames are buffered the best path up to ``keep_frames`` frames back is committed (its words
become final) and the older frames are dropped: memory stays bounded on long streams.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from ..config import BEAM_DEFAULTS, LEXICON_BEAM_THRESHOLD, DecodingConfig, HotwordError
from ..errors import MissingPackageError, ModelFileError
from ..g2p import pronounce
from ..phones import WORD_BOUNDARY, read_pronunciations
from ..results import Alternative, Result, Word
from ..spelling import respelling
from ..text import VOCABULARY, normalize_text
from .hotwords import check_hotwords
from .lm import BOS, EOS, LN10, UNK, _open


try:
    from flashlight.lib.text.decoder import (LM, CriterionType, LexiconDecoder, LexiconDecoderOptions,
                                             SmearingMode, Trie)
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary
except ImportError:  # the optional extra is not installed: recognizer.py falls back
    LM = object
    AVAILABLE = False
else:
    AVAILABLE = True


class FlashlightError(ModelFileError, RuntimeError):
    """flashlight-text is missing, or it could not read the language model."""


def read_unigrams(path: str | Path) -> tuple[list[str], list[float]]:
    """The words of an ARPA model and their log10 unigram probabilities, in file order."""
    words: list[str] = []
    logp: list[float] = []
    with _open(Path(path)) as f:
        for line in f:
            if line.startswith("\\1-grams:"):
                break
        else:
            raise ValueError(f"{path}: no \\1-grams: section")
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if fields[0].startswith("\\"):
                break
            logp.append(float(fields[0]))
            words.append(fields[1])
    return words, logp


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: KenLM prints a progress bar while it reads an ARPA file."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


Spellings = tuple[tuple[int, ...], ...]
"""The token sequences that spell one word, each closed by the separator (none: not spellable)."""


@dataclass(frozen=True)
class _Model:
    """KenLM, its vocabulary (label i = word i), unigram log10 scores, each word's spellings in
    the decoder's tokens, the lexicon trie without hotwords, and for phones the pronunciations
    read and the most frequent word of each pronunciation (for unfinished words in partials)."""

    kenlm: object
    words: tuple[str, ...]
    unigram: tuple[float, ...]
    spellings: tuple[Spellings, ...]
    unk: int
    trie: object
    pronunciations: Mapping[str, list[tuple[str, ...]]]
    homophones: Mapping[tuple[int, ...], int]


def separator_of(vocabulary: Sequence[str]) -> int:
    """The token that ends a word: the space (characters) or the word boundary (phones)."""
    return vocabulary.index(WORD_BOUNDARY if WORD_BOUNDARY in vocabulary else " ")


def _build_trie(vocabulary: Sequence[str], spellings: Sequence[Spellings], scores: Sequence[float]) -> object:
    """A trie of ``spellings`` (label = position), smeared with ``scores`` as lookahead.

    flashlight keeps at most 6 words per spelling (and says so on stderr for each one more): of
    homophones, the first 6 inserted, i.e. the LM's most frequent, are kept."""
    trie = Trie(len(vocabulary), separator_of(vocabulary))
    with _quiet_stderr():
        for label, (variants, score) in enumerate(zip(spellings, scores)):
            for spelling in variants:
                trie.insert(list(spelling), label, score)
    trie.smear(SmearingMode.MAX)
    return trie


def _read_lm(path: Path) -> tuple[list[str], list[float], object]:
    """The words, log10 unigrams and KenLM of an ARPA file (``<unk>`` added where missing)."""
    if not AVAILABLE:
        raise MissingPackageError("the lexicon decoder needs flashlight-text (pip install 'speechlstm[flashlight]')")
    try:
        words, unigram = read_unigrams(path)
    except (OSError, EOFError, UnicodeDecodeError, ValueError, IndexError) as error:
        raise FlashlightError(f"{path}: not a readable ARPA language model ({error})") from None
    if UNK not in words:  # KenLM gives it log10 P = -100, as ArpaLM does
        words.append(UNK)
        unigram.append(-100.0)
    dictionary = Dictionary()
    for word in words:
        dictionary.add_entry(word)
    try:
        with _quiet_stderr():
            kenlm = KenLM(str(path), dictionary)
    except Exception as error:  # KenLM raises RuntimeError subclasses with its own message
        raise FlashlightError(f"{path}: KenLM cannot read it ({error})") from None
    return words, unigram, kenlm


def _token_ids(symbols: Sequence[str], index: Mapping[str, int]) -> tuple[int, ...] | None:
    """Token ids of a word's letters or phones; None if it is empty or one is not a non-blank token."""
    ids = tuple(index.get(symbol, -1) for symbol in symbols)
    return ids if ids and min(ids) > 0 else None


@lru_cache(maxsize=2)
def _load_model(path: Path, modified: float, vocabulary: tuple[str, ...], lexicon: Path | None,
                lexicon_modified: float) -> _Model:
    words, unigram, kenlm = _read_lm(path)
    index = {token: i for i, token in enumerate(vocabulary)}
    separator = separator_of(vocabulary)
    pronunciations: dict[str, list[tuple[str, ...]]] = {}
    homophones: dict[tuple[int, ...], int] = {}
    spellings: list[Spellings] = []
    if lexicon is not None:
        try:
            pronunciations = read_pronunciations(lexicon)
        except (OSError, EOFError, UnicodeDecodeError) as error:
            raise FlashlightError(f"{lexicon}: not a readable pronunciation lexicon ({error})") from None
    for label, word in enumerate(words):
        if word in (UNK, BOS, EOS):
            spellings.append(())
        elif lexicon is None:
            ids = _token_ids(word, index)
            spellings.append((ids + (separator,),) if ids else ())
        else:
            variants = [ids for ids in (_token_ids(p, index) for p in pronunciations.get(word, ())) if ids]
            spellings.append(tuple(ids + (separator,) for ids in variants))
            for ids in variants:
                if ids not in homophones or unigram[label] > unigram[homophones[ids]]:
                    homophones[ids] = label
    if lexicon is not None and not any(spellings):
        raise FlashlightError(f"{lexicon}: no pronunciation of any word of {path} in the model's phones")
    return _Model(kenlm, tuple(words), tuple(unigram), tuple(spellings), words.index(UNK),
                  _build_trie(vocabulary, spellings, unigram), pronunciations, homophones)


def load_model(path: str | Path, vocabulary: Sequence[str] = VOCABULARY,
               lexicon: str | Path | None = None, cache: bool = True) -> _Model:
    """KenLM and the lexicon of ``path``, read once per process while the files are unchanged:
    words spelled with ``vocabulary``'s characters, or (phones) with ``lexicon``'s pronunciations.
    ``cache=False`` reads a one-off model (a phrase list's) without evicting the cached ones."""
    path = Path(path).resolve()
    lexicon = Path(lexicon).resolve() if lexicon is not None else None
    try:
        modified = path.stat().st_mtime
        lexicon_modified = lexicon.stat().st_mtime if lexicon is not None else 0.0
    except OSError as error:
        raise FlashlightError(f"{error.filename}: {error.strerror}") from None
    load = _load_model if cache else _load_model.__wrapped__
    return load(path, modified, tuple(vocabulary), lexicon, lexicon_modified)


class _BoostedLM(LM):
    """KenLM plus hotword entries: label -> (KenLM labels of its words, log10 bonus)."""

    def __init__(self, kenlm: object, entries: Mapping[int, tuple[tuple[int, ...], float]]) -> None:
        LM.__init__(self)
        self.kenlm = kenlm
        self.entries = dict(entries)

    def start(self, start_with_nothing: bool):
        return self.kenlm.start(start_with_nothing)

    def score(self, state, label: int):
        entry = self.entries.get(label)
        if entry is None:
            return self.kenlm.score(state, label)
        words, total = entry
        for word in words:
            state, logp = self.kenlm.score(state, word)
            total += logp
        return state, total

    def finish(self, state):
        return self.kenlm.finish(state)


@dataclass
class LexiconState:
    """One utterance: its flashlight decoder and what has been committed so far.

    ``emissions`` holds the log-probs of the frames still in flashlight's buffer (for word
    confidences); ``offset`` is the absolute index of its first frame. ``pending`` holds the
    committed tokens (frame, token, log-prob) of a word whose end is still in the buffer; a
    separator inside a hotword phrase is kept there as token -1.
    """

    decoder: object
    emissions: np.ndarray
    offset: int = 0
    last_token: int = -1
    words: list[Word] = field(default_factory=list)
    pending: list[tuple[int, int, float]] = field(default_factory=list)
    final: Result | None = None


class LexiconBeamDecoder:
    """flashlight-text's LexiconDecoder behind the :class:`~speechlstm.decode.Decoder` protocol.

    ``vocabulary`` is the model head's output symbols: characters, or :data:`~speechlstm.phones.PHONES`
    with ``lexicon`` (the pronunciations of the LM's words). ``alpha`` and ``beta`` are in the
    units of :class:`~speechlstm.decode.beam_search.BeamSearchDecoder` (natural-log LM weight,
    score per word); ``hotwords`` maps words or phrases to a boost. ``beam_threshold`` drops
    hypotheses that far below the best; ``beam_size_token`` limits the tokens tried per frame
    (None: all). ``cache_lm=False`` reads a one-off LM (:func:`load_model`). ``spelling``
    (:data:`~speechlstm.config.SPELLINGS`) respells the LM's British words in American (hotwords
    are written as given).
    """

    VARIANTS = 4
    """Spellings kept per hotword phrase (combinations of its words' pronunciations)."""

    def __init__(self, frame_shift: float, vocabulary: Sequence[str] = VOCABULARY,
                 lm: str | Path | None = None, alpha: float = BEAM_DEFAULTS["lexicon"][1],
                 beta: float = BEAM_DEFAULTS["lexicon"][2], beam_size: int = BEAM_DEFAULTS["lexicon"][0],
                 hotwords: Mapping[str, float] | None = None, lexicon: str | Path | None = None,
                 beam_size_token: int | None = None, beam_threshold: float = LEXICON_BEAM_THRESHOLD,
                 commit_frames: int = 600, keep_frames: int = 300, cache_lm: bool = True,
                 spelling: str = DecodingConfig.spelling) -> None:
        if lm is None:
            raise ValueError("the lexicon decoder needs a language model (its vocabulary is the lexicon)")
        if commit_frames <= keep_frames + 100:
            raise ValueError("commit_frames must exceed keep_frames by more than 100")
        self.frame_shift = frame_shift
        self.vocabulary = tuple(vocabulary)
        self.head = "phones" if WORD_BOUNDARY in self.vocabulary else "chars"
        if self.head == "phones" and lexicon is None:
            raise ValueError("decoding phones needs a pronunciation lexicon of the LM's words")
        self.separator = separator_of(self.vocabulary)
        self.commit_frames, self.keep_frames = commit_frames, keep_frames
        check_hotwords(list(hotwords or {}), VOCABULARY)
        model = load_model(lm, self.vocabulary, lexicon if self.head == "phones" else None, cache=cache_lm)
        self.model = model
        lm_weight = alpha * LN10
        self.options = LexiconDecoderOptions(
            beam_size=beam_size, beam_size_token=beam_size_token or len(self.vocabulary),
            beam_threshold=beam_threshold, lm_weight=lm_weight, word_score=beta,
            unk_score=-math.inf, sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC)
        entries, spellings, texts = self._hotword_entries(model, hotwords or {}, lm_weight)
        respell = respelling(spelling)
        self.texts = {**{label: respell.get(word, word) for label, word in enumerate(model.words)}, **texts}
        self.lm = _BoostedLM(model.kenlm, entries) if entries else model.kenlm
        self.trie = self._trie(model, entries, spellings)
        self.unk = model.unk

    def _spell(self, model: _Model, words: Sequence[str]) -> Spellings:
        """Spellings of a word or phrase, each closed by the separator: its characters, or
        combinations of its words' pronunciations (lexicon, else espeak-ng)."""
        if self.head == "chars":
            return (tuple(self.vocabulary.index(ch) for ch in " ".join(words)) + (self.separator,),)
        index = {token: i for i, token in enumerate(self.vocabulary)}
        options = []
        for word in words:
            variants = [ids for ids in (_token_ids(p, index) for p in model.pronunciations.get(word, ())) if ids]
            options.append(variants or [_token_ids(pronounce(word), index)])
        spellings = []
        for combination in itertools.islice(itertools.product(*options), self.VARIANTS):
            spelling: list[int] = []
            for ids in combination:
                spelling += list(ids) + [self.separator]
            spellings.append(tuple(spelling))
        return tuple(spellings)

    def _hotword_entries(self, model: _Model, hotwords: Mapping[str, float], lm_weight: float
                         ) -> tuple[dict[int, tuple[tuple[int, ...], float]], dict[int, Spellings], dict[int, str]]:
        """Label -> (KenLM labels, log10 bonus), label -> spellings and label -> text of each hotword.

        An LM word keeps its label; other words and phrases get labels after the LM's words.
        """
        index = {w: i for i, w in enumerate(model.words)}
        entries: dict[int, tuple[tuple[int, ...], float]] = {}
        spellings: dict[int, Spellings] = {}
        texts: dict[int, str] = {}
        for phrase, boost in hotwords.items():
            text = normalize_text(phrase)
            if not text or boost <= 0:
                continue
            if lm_weight <= 0:
                raise HotwordError("hotwords need a positive LM weight with the lexicon decoder (--lm-weight above 0)")
            words = text.split()
            labels = tuple(index.get(w, model.unk) for w in words)
            label = labels[0] if len(words) == 1 and words[0] in index else len(model.words) + len(texts)
            if label in entries:
                boost = max(boost, entries[label][1] * lm_weight)
            entries[label] = (labels, boost / lm_weight)
            spellings[label] = self._spell(model, words)
            texts[label] = text
        return entries, spellings, texts

    def _trie(self, model: _Model, entries: Mapping[int, tuple[tuple[int, ...], float]],
              spellings: Mapping[int, Spellings]) -> object:
        """The LM's trie without hotwords, else a new one with their entries and boosted lookahead."""
        if not entries:
            return model.trie
        words = list(model.spellings) + [()] * (max(entries) + 1 - len(model.spellings))
        scores = list(model.unigram) + [0.0] * (len(words) - len(model.unigram))
        for label, (labels, bonus) in entries.items():
            words[label] = spellings[label]
            scores[label] = sum(model.unigram[w] for w in labels) + bonus
        return _build_trie(self.vocabulary, words, scores)

    def new_state(self) -> LexiconState:
        decoder = LexiconDecoder(self.options, self.trie, self.lm, self.separator, 0, self.unk, [], False)
        decoder.decode_begin()
        return LexiconState(decoder, np.zeros((0, len(self.vocabulary)), dtype=np.float32))

    def _step(self, state: LexiconState, log_probs: np.ndarray) -> None:
        emissions = np.ascontiguousarray(log_probs, dtype=np.float32)
        state.decoder.decode_step(emissions.ctypes.data, emissions.shape[0], emissions.shape[1])

    def advance(self, state: LexiconState, log_probs: np.ndarray) -> None:
        if len(log_probs) == 0:
            return
        self._step(state, log_probs)
        state.emissions = np.concatenate([state.emissions, np.asarray(log_probs, dtype=np.float32)])
        if len(state.emissions) >= self.commit_frames:
            self._commit(state)

    def _commit(self, state: LexiconState) -> None:
        """Make the best path up to ``keep_frames`` back final and let flashlight drop it."""
        best = state.decoder.get_best_hypothesis(self.keep_frames)
        frames = len(best.tokens) - 1  # tokens[0] is the frame before the buffer
        if frames <= 0:
            return
        state.decoder.prune(self.keep_frames)
        state.last_token = self._walk(state, best.tokens[1:], best.words[1:], state.words, state.pending)
        state.emissions = state.emissions[frames:]
        state.offset += frames

    def _walk(self, state: LexiconState, tokens: Sequence[int], labels: Sequence[int], words: list[Word],
              pending: list[tuple[int, int, float]]) -> int:
        """Collapse a buffered CTC path into ``words`` and ``pending``; the last token seen.

        A word ends where the search emits its label, on the first frame of its closing separator."""
        previous = state.last_token
        for i, token in enumerate(tokens):
            if token != previous and token != 0:
                if token == self.separator:
                    if labels[i] >= 0:
                        self._close(words, pending, self.texts[labels[i]].split())
                    elif pending:
                        pending.append((state.offset + i, -1, 0.0))
                elif i < len(state.emissions):
                    pending.append((state.offset + i, token, float(state.emissions[i, token])))
            previous = token
        return previous

    def _close(self, words: list[Word], pending: list[tuple[int, int, float]], texts: Sequence[str]) -> None:
        """Append ``texts`` (one entry's words) timed by the tokens of ``pending``, split at its separators."""
        pieces: list[list[tuple[int, int, float]]] = [[]]
        for item in pending:
            if item[1] < 0:
                pieces.append([])
            else:
                pieces[-1].append(item)
        pieces = [piece for piece in pieces if piece]
        if len(pieces) != len(texts):
            pieces = [[item for item in pending if item[1] >= 0]] * len(texts)
        for text, piece in zip(texts, pieces):
            if piece:
                confidence = math.exp(sum(logp for _, _, logp in piece) / len(piece))
                words.append(Word(text, piece[0][0] * self.frame_shift, (piece[-1][0] + 1) * self.frame_shift,
                                  confidence))
        pending.clear()

    def _unfinished(self, pending: list[tuple[int, int, float]]) -> list[str]:
        """The text of a word spelled out but not closed yet (partial results only)."""
        tokens = tuple(token for _, token, _ in pending if token >= 0)
        if not tokens:
            return []
        if self.head == "chars":
            word = "".join(self.vocabulary[token] for token in tokens).strip("'")
            return [word] if word else []
        label = self.model.homophones.get(tokens)
        return [self.texts[label]] if label is not None else []

    def result(self, state: LexiconState, final: bool = False) -> Result:
        if state.final is not None:
            return state.final
        if final:
            closing = np.full((1, len(self.vocabulary)), -1e4, dtype=np.float32)
            closing[0, self.separator] = 0.0
            self._step(state, closing)
            state.decoder.decode_end()
        hypotheses = state.decoder.get_all_final_hypothesis()
        result = self._hypothesis(state, max(hypotheses, key=lambda h: h.score) if hypotheses else None)
        if final:
            state.final = result
        return result

    def _hypothesis(self, state: LexiconState, hypothesis: object | None) -> Result:
        """The committed words followed by those of ``hypothesis`` (the buffered frames' path)."""
        words, pending = list(state.words), list(state.pending)
        if hypothesis is not None:
            self._walk(state, hypothesis.tokens[1:], hypothesis.words[1:], words, pending)
        texts = self._unfinished(pending)
        if texts:
            self._close(words, pending, texts)
        return Result(" ".join(w.word for w in words), tuple(words))

    def alternatives(self, state: LexiconState, count: int) -> list[Alternative]:
        """The ``count`` best distinct transcripts of a finished utterance (after ``result(final=True)``)."""
        best: dict[str, Alternative] = {}
        for hypothesis in sorted(state.decoder.get_all_final_hypothesis(), key=lambda h: -h.score):
            result = self._hypothesis(state, hypothesis)
            best.setdefault(result.text, Alternative(result, hypothesis.score))
            if len(best) == count:
                break
        return list(best.values()) or [Alternative(self.result(state, final=True), 0.0)]
