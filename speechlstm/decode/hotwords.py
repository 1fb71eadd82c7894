"""Hotwords: phrases a user expects, boosted during beam search.

:func:`~speechlstm.config.hotword_boosts` reads them (phrases, (phrase, boost) pairs or a
mapping); :func:`check_hotwords` refuses what the model cannot write; :class:`Hotwords` is the
character automaton the prefix beam search walks. The lexicon decoder
(:mod:`speechlstm.decode.flashlight`) turns them into lexicon entries instead.
"""
from __future__ import annotations

import unicodedata
from typing import Mapping, Sequence

from ..config import DEFAULT_HOTWORD_BOOST, HotwordError, hotword_boosts
from ..text import normalize_text

__all__ = ["DEFAULT_HOTWORD_BOOST", "HotwordError", "Hotwords", "check_hotwords", "hotword_boosts"]


def check_hotwords(phrases: Sequence[str], vocabulary: Sequence[str]) -> None:
    """Refuse phrases with letters the model cannot write (after accents are dropped, as
    :func:`normalize_text` does), which could never match and would silently do nothing."""
    for phrase in phrases:
        letters = unicodedata.normalize("NFKD", phrase)
        letters = "".join(ch for ch in letters if not unicodedata.combining(ch)).lower()
        foreign = list(dict.fromkeys(ch for ch in letters if ch.isalpha() and ch not in vocabulary))
        if foreign or not normalize_text(phrase):
            writes = "".join(token for token in vocabulary if len(token) == 1 and token.isalpha())
            raise HotwordError(f"hotword {phrase!r}: the model cannot write {''.join(foreign) or 'it'} "
                               f"(it writes the letters {writes}, apostrophes and digits as words)")


class _HotNode:
    """A state of the hotword automaton: a character prefix of one or more phrases."""

    __slots__ = ("children", "score", "boost", "fail")

    def __init__(self) -> None:
        self.children: dict[str, _HotNode] = {}
        self.score = 0.0   # partial bonus held while the match is in progress
        self.boost = 0.0   # bonus earned for good when a phrase ends here (> 0 marks an end)
        self.fail: _HotNode | None = None


class Hotwords:
    """Contextual biasing over characters, in the spirit of sherpa-onnx's context graph.

    Each phrase (one or more words) gets its boost spread over its characters plus the
    closing space: a prefix that is part way through a phrase holds the proportional
    share, loses it as soon as the next character leaves the phrase, and keeps the full
    boost once the phrase is followed by a space or the end of the utterance. Matches
    start only at word starts, so "cat" does not fire inside "concatenate"; after a
    mismatch the automaton falls back (Aho-Corasick style) to the longest word-aligned
    suffix that is still a phrase prefix. A phrase that completes ends the match, so a
    phrase that starts another ("new" and "new york") lets only the shorter one score.
    """

    def __init__(self, phrases: Mapping[str, float]) -> None:
        self.root = _HotNode()
        self.words: set[str] = set()
        for phrase, boost in phrases.items():
            text = normalize_text(phrase)
            if not text or boost <= 0:
                continue
            self.words.update(text.split())
            node = self.root
            full = text + " "
            for i, ch in enumerate(full, 1):
                node = node.children.setdefault(ch, _HotNode())
                node.score = max(node.score, boost * i / len(full))
            node.boost = max(node.boost, boost)
        self._link()

    def _link(self) -> None:
        """Fail links: the longest proper suffix starting after a space that is a node."""
        strings: dict[_HotNode, str] = {self.root: ""}
        by_string: dict[str, _HotNode] = {"": self.root}
        stack = [self.root]
        while stack:
            node = stack.pop()
            for ch, child in node.children.items():
                strings[child] = strings[node] + ch
                by_string[strings[child]] = child
                stack.append(child)
        for node, text in strings.items():
            node.fail = self.root
            for i in range(1, len(text)):
                if text[i - 1] == " " and text[i:] in by_string:
                    node.fail = by_string[text[i:]]
                    break

    def step(self, node: _HotNode, ch: str, word_start: bool) -> tuple[_HotNode, float]:
        """The next state after ``ch`` and the bonus earned for good (0 unless a phrase ends).

        ``word_start`` says whether ``ch`` begins a word, the only place a match may begin.
        """
        current: _HotNode | None = node
        while current is not None:
            child = current.children.get(ch)
            if child is not None and (current is not self.root or word_start):
                if child.boost > 0:
                    return self.root, child.boost
                return child, 0.0
            if current is self.root:
                break
            current = current.fail
        return self.root, 0.0

    def finish(self, node: _HotNode) -> float:
        """The bonus earned if the utterance ends in ``node`` (a phrase lacking its space)."""
        end = node.children.get(" ")
        return end.boost if end is not None and end.boost > 0 else 0.0
