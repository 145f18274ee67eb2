"""The post generator and the gold judge: hand cases, reproducibility, vocabulary."""

import numpy as np
import pytest
import torch

from pgcourse.llm.data import (EOS, PAD, PHRASES, VOCAB_SIZE, DataConfig, Post, decode_responses,
                               encode_prompts, encode_responses, format_post, format_summary,
                               ideal_summary, make_dataset, response_mask)
from pgcourse.llm.judge import bt_prefers_first, gold_score, summary_stats, win_rate

# a post: facts 10 and 11, filler 20, 21 (token ids only need to be distinct content tokens)
POST = Post(topic=0, tokens=(20, 10, 21, 11), facts=frozenset({10, 11}))


@pytest.mark.parametrize("summary, expected", [
    ((10, 11, EOS), 2.0),  # both facts
    ((10, EOS), 1.0),  # one fact
    ((20, 10, EOS), 0.5),  # opener filler −0.5
    ((10, 30, EOS), 0.0),  # hallucination −1
    ((10, 10, EOS), 0.5),  # repeat −0.5
    ((10, 10, 10, EOS), 0.0),  # two repeats
    ((10, 11), 0.0),  # no end −2
    ((EOS,), 0.0),  # empty summary
    ((10, EOS, 30, 30), 1.0),  # tokens after <end> are ignored
])
def test_gold_score_hand_cases(summary, expected):
    assert gold_score(POST, summary) == expected


def test_summary_stats():
    s = summary_stats(POST, (20, 10, 10, 30, EOS))
    assert (s.facts, s.filler, s.hallucinations, s.repeats, s.ended, s.length) == (1, 1, 1, 1, True, 4)


def test_win_rate_ties_count_half():
    w = win_rate(np.array([2.0, 1.0, 0.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0]))
    assert w.rate == pytest.approx(100 * (1 + 0.5 + 0 + 0.5) / 4)
    assert w.ci95 > 0 and w.n == 4
    with pytest.raises(ValueError):
        win_rate(np.zeros(3), np.zeros(4))


def test_bt_labels_follow_sigmoid():
    rng = np.random.default_rng(0)
    n = 20_000
    first = bt_prefers_first(np.ones(n), np.zeros(n), rng, temperature=0.5)
    p = 1 / (1 + np.exp(-2.0))
    assert abs(first.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    with pytest.raises(ValueError):
        bt_prefers_first(np.ones(2), np.zeros(2), rng, temperature=0.0)


def test_dataset_reproducible_and_shaped():
    cfg = DataConfig()
    p1, r1 = make_dataset(300, seed=7)
    p2, r2 = make_dataset(300, seed=7)
    p3, _ = make_dataset(300, seed=8)
    assert p1 == p2 and r1 == r2 and p1 != p3
    assert 50 <= VOCAB_SIZE <= 150 and len(PHRASES) == VOCAB_SIZE
    for post, ref in zip(p1, r1):
        assert cfg.min_len <= len(post.tokens) <= cfg.max_len
        assert 1 <= len(post.facts) <= 4 and post.facts <= set(post.tokens)
        assert len(set(post.tokens)) == len(post.tokens)
        assert ref[-1] == EOS and set(ref[:-1]) <= set(post.tokens)
    assert "SUBREDDIT: r/" in format_post(p1[0]) and "POST:" in format_post(p1[0])
    assert format_summary(ideal_summary(p1[0])).startswith("TL;DR: ")


def test_references_have_lead_bias():
    posts, refs = make_dataset(3000, seed=0)
    early = late = early_n = late_n = 0
    for post, ref in zip(posts, refs):
        n = len(post.tokens)
        for i, t in enumerate(post.tokens):
            if t in post.facts:
                if i < n / 2:
                    early, early_n = early + (t in ref), early_n + 1
                else:
                    late, late_n = late + (t in ref), late_n + 1
    assert abs(early / early_n - 0.9) < 0.03 and abs(late / late_n - 0.35) < 0.04


def test_encoding_round_trip_and_mask():
    posts, refs = make_dataset(5, seed=1)
    prompts = encode_prompts(posts)
    assert prompts.shape == (5, DataConfig().prompt_len)
    y = encode_responses(refs)
    assert decode_responses(y) == [tuple(r) for r in refs]
    m = response_mask(torch.tensor([[5, EOS, PAD, PAD], [5, 6, 7, 8]]))
    assert m.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
