"""Synthetic preference data for the reward model, and the targeted probes that gate RL.

Three kinds of pairs, each labelled by the gold judge through a noisy Bradley-Terry draw:
  1. an SFT sample vs a perturbed reference (what the real pipeline compares);
  2. two perturbed references;
  3. "minimal pairs": a summary vs itself with one edit (a repeat, a hallucinated fact, the opening
     filler added, a late fact dropped, a fact or filler added). Without them the RM learns surface
     cues (count segments, is there an opener) and misses the penalties RL will exploit.

References: Stiennon et al. 2020; Ouyang et al. 2022; Gao et al. 2022 (reward over-optimization).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import EOS, TOPIC_FACTS, CONTENT_TOKENS, DataConfig, Post, ideal_summary
from .judge import bt_prefers_first, gold_scores

EDITS = ("repeat", "hallucination", "opener", "drop_late", "add_fact", "add_filler", "no_end")
MINIMAL_EDITS = ("repeat", "hallucination", "opener", "drop_late", "add_fact")


@dataclass(frozen=True)
class PrefConfig:
    n_pairs: int = 12_000  # training pairs (6,000 overfit the noisy labels)
    n_heldout: int = 1000  # held-out pairs for accuracy
    frac_sft: float = 0.3  # share of pairs: SFT sample vs perturbed reference
    frac_minimal: float = 0.5  # share of minimal pairs; the rest are two perturbed references
    minimal_ideal: float = 0.5  # share of minimal pairs built on the ideal summary (else ref/sample)
    p_hallucination: float = 0.2  # perturbation: insert a token that is not in the post
    p_repeat: float = 0.25  # perturbation: repeat a token already in the summary
    p_no_end: float = 0.05  # perturbation: drop the end token
    p_add: float = 0.3  # perturbation: add a post token (fact or filler)
    p_drop: float = 0.3  # perturbation: drop a token
    bt_temperature: float = 0.5  # labeller noise: P(a ≻ b) = σ((g_a − g_b) / T)


def _body(summary: tuple[int, ...], max_summary: int) -> list[int]:
    return [t for t in summary if t != EOS][: max_summary - 1]


def _hallucinated(post: Post, rng: np.random.Generator) -> int:
    """A token not in the post: half the time a same-topic fact (plausible), else any content."""
    pool = [t for t in TOPIC_FACTS[post.topic] if t not in post.tokens]
    if rng.random() < 0.5 and pool:
        return int(rng.choice(pool))
    while True:
        t = int(rng.choice(CONTENT_TOKENS))
        if t not in post.tokens:
            return t


def edit(post: Post, summary: tuple[int, ...], kind: str, rng: np.random.Generator,
         max_summary: int) -> tuple[int, ...] | None:
    """Apply one named edit to a summary (at most max_summary tokens, <end> included); None when
    it does not apply to this post/summary."""
    body, cap = _body(summary, max_summary), max_summary - 1
    if kind == "repeat" and body:
        i = int(rng.integers(len(body)))
        body.insert(int(rng.integers(i + 1, len(body) + 1)), body[i])
    elif kind == "hallucination":
        body.insert(int(rng.integers(len(body) + 1)), _hallucinated(post, rng))
    elif kind == "opener" and post.tokens[0] not in post.facts and post.tokens[0] not in body:
        body.insert(0, post.tokens[0])
    elif kind == "drop_late":
        n = len(post.tokens)
        late = [t for i, t in enumerate(post.tokens) if t in post.facts and i >= n / 2 and t in body]
        if not late:
            return None
        body.remove(late[-1])
    elif kind in ("add_fact", "add_filler"):
        want_fact = kind == "add_fact"
        pool = [t for t in post.tokens if (t in post.facts) == want_fact and t not in body]
        if not pool:
            return None
        tok = int(rng.choice(pool))
        order = {t: i for i, t in enumerate(post.tokens)}
        body = sorted(body + [tok], key=lambda t: order.get(t, -1))
    elif kind == "no_end":
        return tuple(body)
    else:
        return None
    if len(body) > cap:
        return None
    return tuple(body) + (EOS,)


def perturb(post: Post, summary: tuple[int, ...], rng: np.random.Generator, cfg: PrefConfig,
            max_summary: int) -> tuple[int, ...]:
    """A randomly degraded (or improved) copy of `summary`: drops, additions, hallucinations,
    repeats, a missing end, each with its own probability."""
    out = summary
    for kind, p in (("drop", cfg.p_drop), ("add", cfg.p_add), ("hallucination", cfg.p_hallucination),
                    ("repeat", cfg.p_repeat)):
        if rng.random() >= p:
            continue
        if kind == "drop":
            body = _body(out, max_summary)
            if body:
                body.pop(int(rng.integers(len(body))))
            new = tuple(body) + (EOS,)
        elif kind == "add":
            new = edit(post, out, "add_fact" if rng.random() < 0.5 else "add_filler", rng,
                       max_summary)
        else:
            new = edit(post, out, kind, rng, max_summary)
        out = new if new is not None else out
    if rng.random() < cfg.p_no_end:
        out = tuple(_body(out, max_summary))
    return out


@dataclass
class PairSet:
    """Preference pairs: posts[i] with summaries chosen[i] ≻ rejected[i] (labeller's choice)."""

    posts: list[Post]
    chosen: list[tuple[int, ...]]
    rejected: list[tuple[int, ...]]
    gold_margin: np.ndarray  # (N,) g(chosen) − g(rejected); < 0 where the noisy labeller erred


def make_pairs(posts: list[Post], refs: list[tuple[int, ...]], sft_samples: list[tuple[int, ...]],
               rng: np.random.Generator, cfg: PrefConfig, data_cfg: DataConfig) -> PairSet:
    """One pair per post, its kind drawn from (frac_sft, frac_minimal, rest); BT-labelled.
    Summaries stay within data_cfg.max_summary tokens."""
    if not len(posts) == len(refs) == len(sft_samples):
        raise ValueError("posts, refs and sft_samples must have equal lengths")
    cap = data_cfg.max_summary
    a_list, b_list = [], []
    for post, ref, smp in zip(posts, refs, sft_samples):
        u = rng.random()
        if u < cfg.frac_sft:
            a, b = smp, perturb(post, ref, rng, cfg, cap)
        elif u < cfg.frac_sft + cfg.frac_minimal:
            u = rng.random()  # base: the ideal summary, else the reference or the SFT sample
            if u < cfg.minimal_ideal:
                base = ideal_summary(post)
            else:
                base = ref if u < (1 + cfg.minimal_ideal) / 2 else smp
            b = None
            for kind in rng.permutation(MINIMAL_EDITS):  # the first edit that applies
                b = edit(post, base, str(kind), rng, cap)
                if b is not None:
                    break
            a, b = (base, b) if b is not None else (smp, perturb(post, ref, rng, cfg, cap))
        else:
            a, b = perturb(post, ref, rng, cfg, cap), perturb(post, ref, rng, cfg, cap)
        if rng.random() < 0.5:
            a, b = b, a
        a_list.append(a)
        b_list.append(b)
    g_a, g_b = gold_scores(posts, a_list), gold_scores(posts, b_list)
    first = bt_prefers_first(g_a, g_b, rng, cfg.bt_temperature)
    chosen = [a if f else b for a, b, f in zip(a_list, b_list, first)]
    rejected = [b if f else a for a, b, f in zip(a_list, b_list, first)]
    return PairSet(list(posts), chosen, rejected, np.where(first, g_a - g_b, g_b - g_a))


PROBES = ("repeat", "hallucination", "opener", "drop_late")


def make_probes(posts: list[Post], rng: np.random.Generator, max_summary: int, n_max: int = 500
                ) -> dict[str, tuple[list[Post], list[tuple[int, ...]], list[tuple[int, ...]]]]:
    """Targeted probes: for each flaw, (posts, good, flawed) with good = every key fact in order
    and flawed = the same summary with that single flaw (gold margin 0.5 or 1 for good)."""
    out = {}
    for kind in PROBES:
        ps, good, bad = [], [], []
        for post in posts:
            base = ideal_summary(post)
            flawed = edit(post, base, kind, rng, max_summary)
            if flawed is not None:
                ps.append(post)
                good.append(base)
                bad.append(flawed)
            if len(ps) == n_max:
                break
        out[kind] = (ps, good, bad)
    return out
