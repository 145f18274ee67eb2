"""The lab's RL code, unchanged, on a tiny randomly initialised `transformers` GPT-2 (no download)."""

import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402
from llm_helpers import assert_behaves_as_lm_policy, assert_kv_cache_matches_full_forward  # noqa: E402

from pgcourse.llm.data import EOS, PAD, VOCAB_SIZE, encode_prompts, make_dataset, response_mask  # noqa: E402
from pgcourse.llm.hf import HFPolicy, tiny_gpt2  # noqa: E402
from pgcourse.llm.judge import gold_scores  # noqa: E402
from pgcourse.llm.data import decode_responses  # noqa: E402
from pgcourse.llm.model import GPT, ModelConfig, generate, response_logits  # noqa: E402
from pgcourse.llm.ppo import ValueModel  # noqa: E402
from pgcourse.llm.reward_model import RewardModel  # noqa: E402
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
    sft.eval()  # no dropout: π_θ and π_ref then agree exactly until the first update
    before = [p.detach().clone() for p in sft.parameters()]
    policy, hist = train_rebel(sft, _length_reward, posts, 0, cfg, REBELConfig(epochs=1))
    assert hist.samples == [8, 16] and len(hist.kl) == len(hist.rm_score) == 2
    assert hist.kl[0] == pytest.approx(0.0, abs=1e-5) and hist.kl[1] != pytest.approx(0.0, abs=1e-5)
    assert isinstance(policy, HFPolicy) and policy is not sft
    assert all(torch.equal(a, b) for a, b in zip(before, sft.parameters()))  # π_ref stays frozen
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))


def test_hf_policy_is_an_lm_policy():
    from pgcourse.llm.model import LMPolicy

    policy = tiny_gpt2(VOCAB_SIZE).eval()
    assert isinstance(policy, LMPolicy)
    posts, _ = make_dataset(3, seed=4)
    assert_behaves_as_lm_policy(policy, encode_prompts(posts), VOCAB_SIZE)


@pytest.mark.parametrize("make", [lambda: GPT(ModelConfig(n_layer=1, n_embd=32, n_head=2), seed=5),
                                  lambda: tiny_gpt2(VOCAB_SIZE, seed=5).eval()],
                         ids=["lab GPT", "transformers GPT-2"])
def test_reward_and_value_heads_fit_both_policies(make):
    """One scalar head (model.ScalarHeadModel) for the RM and PPO's value model, on both models:
    r(x, y) = w·h + c at the first <end> (else the last written token), V(x) = w·h + c at the
    prompt's last token, h the policy's own final hidden state."""
    policy = make()
    posts, _ = make_dataset(6, seed=6)
    prompts = encode_prompts(posts)
    y = generate(policy, prompts, 8, 1.0, torch.Generator().manual_seed(2))
    y[0, 1:] = EOS  # an <end> early on, and a row with none: the two read positions
    y[1] = torch.randint(EOS + 1, VOCAB_SIZE, (8,), generator=torch.Generator().manual_seed(3))
    rm, value = RewardModel(policy, seed=1), ValueModel(policy, seed=1)
    assert torch.equal(rm.head.weight, value.head.weight) and rm.head.weight.shape[0] == 1
    with torch.no_grad():
        h = policy.hidden(torch.cat([prompts, y], dim=1))[0]  # (B, Tp + R, C)
        w, c = rm.head.weight[0], rm.head.bias[0]
        Tp = prompts.shape[1]
        for b in range(len(y)):
            row = y[b].tolist()
            t = row.index(EOS) if EOS in row else max(i for i, tok in enumerate(row) if tok != PAD)
            assert rm(prompts[b:b + 1], y[b:b + 1]).item() == pytest.approx(float(h[b, Tp + t] @ w + c), abs=1e-5)
        v = value(prompts)
        assert torch.allclose(v, policy.hidden(prompts)[0][:, -1] @ w + c, atol=1e-5)
        assert v.std() > 0  # each prompt its own value
    loss = rm(prompts, y).sum() + value(prompts).sum()
    loss.backward()  # the heads and the copied bodies learn; the policy is not touched
    assert rm.head.weight.grad is not None and value.head.weight.grad is not None
    assert all(p.grad is None for p in policy.parameters())


def test_hf_policy_rejects_a_bare_model():
    bare = transformers.GPT2Model(transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2,
                                                          vocab_size=VOCAB_SIZE))
    with pytest.raises(TypeError, match="causal LM"):
        HFPolicy(bare)
