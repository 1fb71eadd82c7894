"""CTC prefix beam search with word n-gram shallow fusion and hotword biasing (numpy only).

Why a beam search: greedy decoding cannot use a language model, and an acoustically
ambiguous word ("their"/"there", a rare name) is only settled by context or by a list of
words the user expects. The search keeps ``beam_size`` distinct character prefixes with
the CTC blank / non-blank split of their probability. A prefix's score is

    log P_ctc(prefix) + alpha * log P_lm(words) + beta * len(words) + hotword bonus

where the LM term is added once per word, when the word is closed by a space (or by the
end of the utterance, together with ``</s>``).

Streaming: each prefix is a node of a shared linked structure that carries everything the
next frame needs (last token, current partial word, LM state, hotword state, closed words),
so ``advance`` costs O(frames x beam x candidate tokens) whatever the utterance's length.
Only tokens whose log-posterior reaches ``token_min_logp`` (at most ``top_k`` of them) are
tried at a frame.

Word times come from the frames where the prefix's characters first fired along the path
that created the prefix. A word's confidence is the geometric mean of its characters'
posteriors at those frames, the same measure :class:`GreedyDecoder` reports, so the two
decoders' confidences can share one threshold.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..config import BEAM_DEFAULTS, CHAR_HEAD
from ..results import Alternative, Result, Word
from ..text import VOCABULARY
from .hotwords import Hotwords, _HotNode, check_hotwords
from .lm import ArpaLM, LMState

NEG_INF = float("-inf")
MAX_WORD_CHARS = 40  # longer "words" are split: see BeamSearchDecoder._extend


def _logaddexp(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


class _Prefix:
    """One hypothesis prefix; children point to their parent, so prefixes share storage.

    Only ``frame`` and ``log_post`` (when and how surely this character fired) change after
    creation: they follow whichever firing carries most of the prefix's probability.
    """

    __slots__ = ("parent", "token", "frame", "log_post", "lm_score", "lm_state", "hot",
                 "hot_banked", "bonus", "words", "partial", "known")

    def __init__(self, parent: _Prefix | None, token: int, frame: int, log_post: float,
                 lm_score: float, lm_state: LMState, hot: _HotNode, hot_banked: float,
                 words: tuple | None, partial: str, known: bool) -> None:
        self.parent = parent
        self.token = token            # last emitted token (0 for the empty prefix)
        self.frame = frame
        self.log_post = log_post
        self.lm_score = lm_score      # alpha * LM + beta * words, over closed words
        self.lm_state = lm_state
        self.hot = hot
        self.hot_banked = hot_banked  # hotword bonus earned for good
        self.bonus = lm_score + hot_banked + hot.score  # everything but the CTC probability
        self.words = words            # closed words as a linked list: (Word, older) or None
        self.partial = partial        # characters of the word being spelled
        self.known = known            # partial starts a known word (else unk offset is paid)


@dataclass
class BeamState:
    """Per-utterance search state: the surviving prefixes and their CTC probabilities."""

    frames: int = 0
    beams: list[tuple[_Prefix, float, float]] = field(default_factory=list)
    lm_cache: dict = field(default_factory=dict)


class BeamSearchDecoder:
    """CTC prefix beam search implementing the :class:`~speechlstm.decode.base.Decoder` protocol.

    ``lm=None`` gives plain prefix beam search (hotwords still apply; ``alpha`` and ``beta``
    are unused, as an insertion bonus only balances the LM's per-word cost); ``hotwords`` maps
    words or phrases to a log-score boost. ``unk_score_offset`` is added to the LM score of
    words outside the LM's vocabulary: ``<unk>`` carries the mass of all unknown words
    together, far more than any one misspelling deserves. It is charged (times ``alpha``)
    as soon as a partial word stops being the start of any known word. Words of hotword
    phrases count as known, since the caller vouches for them.
    """

    head = CHAR_HEAD

    def __init__(self, frame_shift: float, vocabulary: Sequence[str] = VOCABULARY,
                 lm: ArpaLM | None = None, alpha: float = BEAM_DEFAULTS["prefix"][1],
                 beta: float = BEAM_DEFAULTS["prefix"][2], beam_size: int = BEAM_DEFAULTS["prefix"][0],
                 top_k: int = 8, token_min_logp: float = -8.0,
                 unk_score_offset: float = -10.0,
                 hotwords: Mapping[str, float] | None = None,
                 lm_cache_size: int = 100_000) -> None:
        self.frame_shift = frame_shift
        self.vocabulary = tuple(vocabulary)
        self.space = self.vocabulary.index(" ")
        self.lm = lm
        self.alpha = alpha
        self.beta = beta
        self.beam_size = beam_size
        self.top_k = min(top_k, len(self.vocabulary) - 1)
        self.token_min_logp = token_min_logp
        self.unk_score_offset = unk_score_offset
        check_hotwords(list(hotwords or {}), self.vocabulary)
        self.hotwords = Hotwords(hotwords or {})
        self.lm_cache_size = lm_cache_size
        known = set(self.hotwords.words)
        if lm is not None:
            known.update(w for w in lm.words if not w.startswith("<"))
        self._known_sorted = sorted(known)

    def new_state(self) -> BeamState:
        root = _Prefix(None, 0, -1, 0.0, 0.0, self.lm.begin() if self.lm else (),
                       self.hotwords.root, 0.0, None, "", True)
        return BeamState(beams=[(root, 0.0, NEG_INF)])

    def _word_score(self, state: BeamState, lm_state: LMState, word: str) -> tuple[float, LMState]:
        """alpha * LM log-probability + beta for closing ``word``, and the LM state after it.

        The unknown-word offset is not included: :meth:`_unk_adjustment` settles it.
        """
        if self.lm is None:
            return 0.0, lm_state
        key = (lm_state, word)
        hit = state.lm_cache.get(key)
        if hit is None:
            logp, nxt = self.lm.score(lm_state, word)
            if len(state.lm_cache) >= self.lm_cache_size:
                state.lm_cache.clear()
            hit = state.lm_cache[key] = (self.alpha * logp + self.beta, nxt)
        return hit

    def _starts_known_word(self, partial: str) -> bool:
        """Whether ``partial`` begins some LM or hotword word (always true without an LM)."""
        if self.lm is None:
            return True
        partial = partial.lstrip("'")
        i = bisect.bisect_left(self._known_sorted, partial)
        return i < len(self._known_sorted) and self._known_sorted[i].startswith(partial)

    def _unk_adjustment(self, prefix: _Prefix, word: str) -> float:
        """What closing ``word`` adds so the unk offset is paid exactly when it is unknown.

        The offset is charged as soon as a partial word stops being the start of any known
        word, so hypotheses spelling non-words lose out before they reach a space.
        """
        if self.lm is None:
            return 0.0
        unknown = word not in self.lm and word not in self.hotwords.words
        return self.alpha * self.unk_score_offset * (float(unknown) - float(not prefix.known))

    def _close_word(self, prefix: _Prefix) -> Word | None:
        """The partial word ending at ``prefix`` as a Word (None if it is only apostrophes)."""
        word = prefix.partial.strip("'")
        if not word:
            return None
        node: _Prefix | None = prefix
        log_post = 0.0
        first = last = prefix.frame
        for _ in prefix.partial:
            assert node is not None
            log_post += node.log_post
            first = node.frame
            node = node.parent
        return Word(word, first * self.frame_shift, (last + 1) * self.frame_shift,
                    math.exp(log_post / len(prefix.partial)))

    def _closed(self, state: BeamState, prefix: _Prefix) -> tuple[float, LMState, tuple | None]:
        """LM score, LM state and closed words once the partial word ending at ``prefix`` ends."""
        word = self._close_word(prefix)
        lm_score, lm_state, words = prefix.lm_score, prefix.lm_state, prefix.words
        if word is not None:
            gain, lm_state = self._word_score(state, lm_state, word.word)
            lm_score += gain + self._unk_adjustment(prefix, word.word)
            words = (word, words)
        return lm_score, lm_state, words

    def _extend(self, state: BeamState, parent: _Prefix, token: int, frame: int,
                log_post: float) -> _Prefix:
        """The child prefix of ``parent`` ending in ``token``, scored for LM and hotwords.

        A partial word that reaches MAX_WORD_CHARS is closed as if a space followed: no
        real word is that long, and an unbounded partial word (a model that never emits
        spaces, e.g. on noise) would make every prefix copy an ever longer string.
        """
        ch = self.vocabulary[token]
        if token == self.space:
            hot, earned = self.hotwords.step(parent.hot, ch, parent.partial == "")
            lm_score, lm_state, words = self._closed(state, parent)
            return _Prefix(parent, token, frame, log_post, lm_score, lm_state, hot,
                           parent.hot_banked + earned, words, "", True)
        if len(parent.partial) >= MAX_WORD_CHARS:
            lm_score, lm_state, words = self._closed(state, parent)
            partial, known, word_start = "", True, True
        else:
            lm_score, lm_state, words = parent.lm_score, parent.lm_state, parent.words
            partial, known, word_start = parent.partial, parent.known, parent.partial == ""
        hot, earned = self.hotwords.step(parent.hot, ch, word_start)
        partial += ch
        now_known = known and self._starts_known_word(partial)
        if known and not now_known:
            lm_score += self.alpha * self.unk_score_offset
        return _Prefix(parent, token, frame, log_post, lm_score, lm_state, hot,
                       parent.hot_banked + earned, words, partial, now_known)

    def _candidates(self, log_probs: np.ndarray) -> list[list[int]]:
        """Per frame, the non-blank tokens worth trying (at most top_k, above the floor)."""
        k = self.top_k
        top = np.argpartition(-log_probs[:, 1:], k - 1, axis=1)[:, :k] + 1
        keep = np.take_along_axis(log_probs, top, axis=1) >= self.token_min_logp
        return [row[mask].tolist() for row, mask in zip(top, keep)]

    def advance(self, state: BeamState, log_probs: np.ndarray) -> None:
        if len(log_probs) == 0:
            return
        log_probs = np.asarray(log_probs, dtype=np.float64)
        candidates = self._candidates(log_probs)
        space = self.space
        for offset, (row, tokens) in enumerate(zip(log_probs.tolist(), candidates)):
            frame = state.frames + offset
            blank = row[0]
            nxt: dict[_Prefix, list[float]] = {}
            # Existing prefixes by (parent, token) with their mass before this frame.
            existing = {(p.parent, p.token): (p, _logaddexp(pb, pnb)) for p, pb, pnb in state.beams}
            for prefix, pb, pnb in state.beams:
                total = _logaddexp(pb, pnb)
                at_word_start = prefix.partial == ""
                entry = nxt.setdefault(prefix, [NEG_INF, NEG_INF])
                entry[0] = _logaddexp(entry[0], total + blank)
                if prefix.token != 0 and not (at_word_start and prefix.token == space):
                    entry[1] = _logaddexp(entry[1], pnb + row[prefix.token])
                for token in tokens:
                    lp = row[token]
                    if token == space and at_word_start:
                        entry[0] = _logaddexp(entry[0], total + lp)  # no empty words
                        continue
                    if token == prefix.token:
                        if pb == NEG_INF:
                            continue
                        mass = pb + lp
                    else:
                        mass = total + lp
                    child, before = existing.get((prefix, token), (None, NEG_INF))
                    if child is None:
                        child = self._extend(state, prefix, token, frame, lp)
                        existing[(prefix, token)] = (child, NEG_INF)
                    elif mass > before:  # this firing now outweighs the earlier ones
                        child.frame, child.log_post = frame, lp
                    centry = nxt.setdefault(child, [NEG_INF, NEG_INF])
                    centry[1] = _logaddexp(centry[1], mass)
            ranked = sorted(nxt.items(), key=lambda kv: _logaddexp(*kv[1]) + kv[0].bonus,
                            reverse=True)[:self.beam_size]
            state.beams = [(p, pb, pnb) for p, (pb, pnb) in ranked]
        state.frames += len(log_probs)

    def _final_bonus(self, state: BeamState, prefix: _Prefix) -> float:
        """Everything but the CTC probability if the utterance ended after ``prefix``."""
        score = prefix.lm_score + prefix.hot_banked
        lm_state = prefix.lm_state
        word = prefix.partial.strip("'")
        if word:
            gain, lm_state = self._word_score(state, lm_state, word)
            score += gain + self._unk_adjustment(prefix, word) + self.hotwords.finish(prefix.hot)
        if self.lm is not None:
            score += self.alpha * self.lm.final(lm_state)
        return score

    def _words(self, prefix: _Prefix) -> tuple[Word, ...]:
        """The closed words of ``prefix`` followed by its partial word, if any."""
        out: list[Word] = []
        last = self._close_word(prefix)
        if last is not None:
            out.append(last)
        words = prefix.words
        while words is not None:
            out.append(words[0])
            words = words[1]
        return tuple(reversed(out))

    def _final_score(self, state: BeamState, beam: tuple[_Prefix, float, float]) -> float:
        return _logaddexp(beam[1], beam[2]) + self._final_bonus(state, beam[0])

    def result(self, state: BeamState, final: bool = False) -> Result:
        if final:
            best = max(state.beams, key=lambda b: self._final_score(state, b))[0]
        else:
            best = state.beams[0][0]
        return self._result(best)

    def _result(self, prefix: _Prefix) -> Result:
        words = self._words(prefix)
        return Result(" ".join(w.word for w in words), words)

    def alternatives(self, state: BeamState, count: int) -> list[Alternative]:
        """The ``count`` best distinct transcripts of a finished utterance, best first."""
        best: dict[str, Alternative] = {}
        for score, prefix in sorted(((self._final_score(state, b), b[0]) for b in state.beams),
                                    key=lambda pair: -pair[0]):
            result = self._result(prefix)
            best.setdefault(result.text, Alternative(result, score))
        return list(best.values())[:count]
