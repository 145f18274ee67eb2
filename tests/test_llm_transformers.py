"""The lab's RL code, unchanged, on a tiny randomly initialised `transformers` GPT-2 (no download)."""

import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402
from llm_helpers import assert_kv_cache_matches_full_forward  # noqa: E402

from pgcourse.llm.data import EOS, VOCAB_SIZE, encode_prompts, make_dataset, response_mask  # noqa: E402
from pgcourse.llm.hf import HFPolicy, tiny_gpt2  # noqa: E402
from pgcourse.llm.judge import gold_scores  # noqa: E402
from pgcourse.llm.data import decode_responses  # noqa: E402
from pgcourse.llm.model import generate, response_logits  # noqa: E402
from pgcourse.llm.rebel import REBELConfig, train_rebel  # noqa: E402
from pgcourse.llm.rl import (RLConfig, kl_penalized_reward, reinforce_lm_loss,  # noqa: E402
                             rloo_advantages, sequence_log_prob, train_rl)

torch.set_num_threads(1)


def _policy(seed=0) -> HFPolicy:
    cfg = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=VOCAB_SIZE,
                                  n_positions=32, bos_token_id=None, eos_token_id=None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HFPolicy(transformers.GPT2LMHeadModel(cfg))


def _length_reward(prompts, responses):
    """A toy reward function: shorter summaries that end score higher."""
    ended = (responses == EOS).any(dim=1).float()
    return 2.0 * ended - 0.1 * response_mask(responses).sum(dim=1)


def test_kv_cache_generation_matches_full_forward_on_transformers():
    policy = _policy().eval()
    posts, _ = make_dataset(6, seed=1)
    prompts = encode_prompts(posts)
    a = assert_kv_cache_matches_full_forward(policy, prompts)
    logits = response_logits(policy, prompts, a)
    assert logits.shape == (6, 8, VOCAB_SIZE)


def test_one_rloo_step_end_to_end_with_the_lab_functions():
    policy = _policy(seed=1)
    ref = _policy(seed=1)  # frozen π_ref: same initial weights
    ref.requires_grad_(False)
    before = [p.detach().clone() for p in policy.parameters()]
    posts, _ = make_dataset(4, seed=2)
    k = 2
    prompts = encode_prompts(posts).repeat_interleave(k, dim=0)  # (P·k, Tp)
    g = torch.Generator().manual_seed(0)
    y = generate(policy, prompts, 8, 1.0, generator=g)  # sample
    mask = response_mask(y)
    logp = sequence_log_prob(response_logits(policy, prompts, y), y, mask)  # (N,)
    with torch.no_grad():
        ref_logp = sequence_log_prob(response_logits(ref, prompts, y), y, mask)
    scores = _length_reward(prompts, y)  # score with a reward function
    gold = gold_scores([p for p in posts for _ in range(k)], decode_responses(y))
    assert gold.shape == (8,)
    rewards = kl_penalized_reward(scores, logp, ref_logp, beta=0.1)
    adv = rloo_advantages(rewards.view(-1, k)).reshape(-1)
    loss = reinforce_lm_loss(logp, adv)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-2)
    opt.zero_grad()
    loss.backward()
    assert all(p.grad is not None for p in policy.parameters() if p.requires_grad)
    opt.step()
    changed = [not torch.equal(a, b.detach()) for a, b in zip(before, policy.parameters())]
    assert all(changed)
    # the reference policy did not move
    assert all(torch.equal(a, b) for a, b in zip(before, ref.parameters()))


def test_train_rl_and_rebel_run_unchanged_on_a_transformers_model():
    sft = tiny_gpt2(VOCAB_SIZE, seed=2)
    posts, _ = make_dataset(32, seed=3)
    cfg = RLConfig(steps=2, samples_per_step=8, k=2)
    policy, hist = train_rl(sft, _length_reward, posts, seed=0, cfg=cfg)
    assert len(hist.rm_score) == 2 and hist.samples[-1] == 16
    assert isinstance(policy, HFPolicy) and policy is not sft
    assert any(not torch.equal(a, b) for a, b in zip(sft.parameters(), policy.parameters()))
    policy, hist = train_rebel(sft, _length_reward, posts, 0, cfg, REBELConfig(epochs=1))
    assert len(hist.kl) == 2


def test_hf_policy_is_an_lm_policy():
    from pgcourse.llm.model import LMPolicy

    assert isinstance(tiny_gpt2(VOCAB_SIZE), LMPolicy)


def test_hf_policy_rejects_a_bare_model():
    bare = transformers.GPT2Model(transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2,
                                                          vocab_size=VOCAB_SIZE))
    with pytest.raises(TypeError, match="causal LM"):
        HFPolicy(bare)
