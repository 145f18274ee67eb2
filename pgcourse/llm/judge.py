"""The hidden gold judge: a score per summary, noisy Bradley-Terry preferences, and win rates.

It plays two roles from the real pipeline: the humans who label preference pairs (through a noisy
Bradley-Terry draw) and the GPT-4 judge that computes win rates against the references. The
policy never sees it, except in the control run that uses it as the reward.

References: Bradley & Terry 1952; Stiennon et al. 2020; Gao et al. 2024 (REBEL win-rate protocol).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .data import EOS, Post

FACT, FILLER, HALLUCINATION, REPEAT, NO_END = 1.0, -0.5, -1.0, -0.5, -2.0


@dataclass(frozen=True)
class SummaryStats:
    """What the judge saw in one summary (tokens before <end>)."""

    facts: int  # distinct key facts of the post that it mentions
    filler: int  # distinct filler details of the post that it copies
    hallucinations: int  # distinct tokens that are not in the post
    repeats: int  # occurrences beyond the first of any token
    ended: bool  # whether it produced <end>
    length: int  # tokens before <end>


def summary_stats(post: Post, summary: tuple[int, ...]) -> SummaryStats:
    """Count facts, filler, hallucinations and repeats in `summary` (tokens after <end> ignored)."""
    body: list[int] = []
    ended = False
    for t in summary:
        if t == EOS:
            ended = True
            break
        body.append(int(t))
    distinct = set(body)
    in_post = set(post.tokens)
    return SummaryStats(
        facts=len(distinct & post.facts),
        filler=len((distinct & in_post) - post.facts),
        hallucinations=len(distinct - in_post),
        repeats=len(body) - len(distinct),
        ended=ended,
        length=len(body),
    )


def gold_score(post: Post, summary: tuple[int, ...]) -> float:
    """Gold score g(x, y) = Σ over distinct tokens of y [+1 key fact, −0.5 filler, −1 not in post]
    − 0.5 per repeated token − 2 if y has no <end>.

    >>> gold_score(Post(0, (4, 12), frozenset({4})), (4, 12, 4, 3))   # fact, filler, repeat
    0.0
    """
    s = summary_stats(post, summary)
    return (FACT * s.facts + FILLER * s.filler + HALLUCINATION * s.hallucinations
            + REPEAT * s.repeats + (0.0 if s.ended else NO_END))


def gold_scores(posts: list[Post], summaries: list[tuple[int, ...]]) -> np.ndarray:
    """Gold scores of a batch: (N,) float64."""
    if len(posts) != len(summaries):
        raise ValueError(f"{len(posts)} posts but {len(summaries)} summaries")
    return np.array([gold_score(p, s) for p, s in zip(posts, summaries)], dtype=np.float64)


def bt_prefers_first(g_a: np.ndarray, g_b: np.ndarray, rng: np.random.Generator,
                     temperature: float = 0.5) -> np.ndarray:
    """Noisy labeller: P(a ≻ b) = σ((g_a − g_b) / temperature); returns (N,) bool draws."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    g_a, g_b = np.asarray(g_a, float), np.asarray(g_b, float)
    if g_a.shape != g_b.shape:
        raise ValueError(f"score shapes differ: {g_a.shape} vs {g_b.shape}")
    p = 1.0 / (1.0 + np.exp(-(g_a - g_b) / temperature))
    return rng.random(g_a.shape) < p


@dataclass(frozen=True)
class WinRate:
    """Win rate of summaries against references, in percent, with a 95% normal interval."""

    rate: float  # 100 · mean(1[win] + ½·1[tie])
    ci95: float  # half-width: 1.96 · std / sqrt(N), in percent
    n: int  # number of posts judged

    def __str__(self) -> str:
        return f"{self.rate:5.1f} (±{self.ci95:.1f})"


def win_rate(summary_scores: np.ndarray, reference_scores: np.ndarray) -> WinRate:
    """Win rate = mean over posts of 1[g(y) > g(y_ref)] + ½·1[g(y) = g(y_ref)] (in %), with 95% CI."""
    a, b = np.asarray(summary_scores, float), np.asarray(reference_scores, float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"need two equal non-empty 1-D score arrays, got {a.shape} and {b.shape}")
    outcome = (a > b) + 0.5 * (a == b)
    se = outcome.std(ddof=1) / math.sqrt(a.size) if a.size > 1 else 0.0
    return WinRate(100.0 * outcome.mean(), 100.0 * 1.96 * se, int(a.size))
