"""Labeling functions on raw text: keyword rules (BBC News topics, review words) and VADER's
sentiment lexicon (Hutto and Gilbert 2014) for Rotten Tomatoes. Each is called on texts (N,)
and returns votes (N,) int64 in {ABSTAIN, label}, as `drift.data.weak.apply_lfs` expects.

The keywords were chosen by reading articles and reviews of the training pool, a few common
words per class, not tuned on the test split; `load_weak_data(name).stats()` reports their
coverage, conflicts and accuracy.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from .text import package_dir, title_and_lead
from . import weak


def _texts(name: str, texts) -> list[str]:
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError(f"labeling function {name!r} reads texts: a sequence of strings")
    return texts


@dataclass(frozen=True)
class Keywords:
    """Votes `label` where the text holds any of `words` (whole words, case-insensitive);
    `lead` reads only the title and first paragraph (`title_and_lead`)."""

    name: str
    words: tuple[str, ...]
    label: int
    lead: bool = False

    def __call__(self, texts) -> np.ndarray:
        pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, self.words)) + r")\b", re.I)
        return np.array(
            [
                self.label
                if pattern.search(title_and_lead(t) if self.lead else t)
                else weak.ABSTAIN
                for t in _texts(self.name, texts)
            ],
            dtype=np.int64,
        )


@functools.lru_cache(maxsize=1)
def _vader():
    package_dir("vaderSentiment", "vaderSentiment", "VADER")  # ImportError naming INSTALL
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@dataclass(frozen=True)
class Vader:
    """Votes `label` where VADER's compound score (in [-1, 1]) is at least `threshold` (for
    threshold > 0) or at most it (for threshold < 0)."""

    name: str
    threshold: float
    label: int

    def __call__(self, texts) -> np.ndarray:
        score = np.array(
            [_vader().polarity_scores(t)["compound"] for t in _texts(self.name, texts)]
        )
        hit = score >= self.threshold if self.threshold > 0 else score <= self.threshold
        return np.where(hit, self.label, weak.ABSTAIN).astype(np.int64)


def keywords(topic: str, words: str, label: int, *, lead: bool = False) -> Keywords:
    """A `Keywords` rule from comma-separated words, named after its topic and first words."""
    words = tuple(w.strip() for w in words.split(","))
    return Keywords(f"{topic}: {', '.join(words[:3])}, ...", words, label, lead)


BBC_LFS = (
    keywords(
        "business",
        "shares, profit, profits, economy, economic, bank, firm, market, prices, sales",
        0,
        lead=True,
    ),
    keywords(
        "entertainment",
        "film, films, music, album, singer, actor, actress, oscar, oscars, festival, "
        "band, box office",
        1,
        lead=True,
    ),
    keywords(
        "politics",
        "election, labour, tory, tories, blair, mps, minister, lib dems, conservatives, parliament",
        2,
        lead=True,
    ),
    keywords(
        "sport",
        "match, coach, cup, championship, striker, rugby, football, tennis, olympic, injury, squad",
        3,
        lead=True,
    ),
    keywords(
        "tech",
        "software, computer, computers, internet, broadband, mobile, technology, "
        "online, digital, users, gadget",
        4,
        lead=True,
    ),
)
"""Five keyword rules over a BBC article's title and first paragraph, one per topic (business,
entertainment, politics, sport, tech)."""

RT_LFS = (
    Vader("VADER compound >= 0.5 -> fresh", 0.5, 0),
    Vader("VADER compound <= -0.5 -> rotten", -0.5, 1),
    keywords(
        "fresh",
        "best, beautiful, masterpiece, wonderful, brilliant, delightful, funniest, "
        "moving, superb, terrific",
        0,
    ),
    keywords(
        "rotten",
        "dull, boring, mess, worst, tedious, bland, lame, stupid, fails, unfunny, pointless",
        1,
    ),
)
"""Rotten Tomatoes: VADER's compound score at +-0.5 and two keyword rules (class 0 = fresh,
1 = rotten)."""

TEXT_LFS = {"bbc_news": BBC_LFS, "rotten_tomatoes": RT_LFS}
"""The built-in labeling functions of each text data set (`load_weak_data`'s default)."""
