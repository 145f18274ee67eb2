"""Helpers shared by the notebook-06 tests (tests/ is on sys.path via conftest)."""

import torch

from pgcourse.llm.model import generate


def assert_kv_cache_matches_full_forward(model, prompts: torch.Tensor, max_new_tokens: int = 8) -> torch.Tensor:
    """Greedy and sampled generation with the KV cache equal a full forward per step; returns the last sample."""
    for greedy in (True, False):
        a = generate(model, prompts, max_new_tokens, 1.0, torch.Generator().manual_seed(0), greedy, use_cache=True)
        b = generate(model, prompts, max_new_tokens, 1.0, torch.Generator().manual_seed(0), greedy, use_cache=False)
        assert torch.equal(a, b), f"KV-cache generation differs from the full forward (greedy={greedy})"
    return a


def assert_behaves_as_lm_policy(policy, idx: torch.Tensor, vocab_size: int) -> None:
    """Call what `model.LMPolicy` declares and check that the pieces agree with each other.

    isinstance() against the runtime_checkable protocol only looks the names up; this checks that
    policy(idx) is lm_head(hidden(idx)), that hidden's KV cache continues a prefix at `start`, and
    that parameters() are what the logits depend on. `policy` must be deterministic (eval mode).
    """
    B, T = idx.shape
    with torch.no_grad():
        logits = policy(idx)
        assert logits.shape == (B, T, vocab_size), tuple(logits.shape)
        h, _ = policy.hidden(idx)
        assert h.dim() == 3 and h.shape[:2] == (B, T), tuple(h.shape)
        assert torch.allclose(policy.lm_head(h), logits, atol=1e-5), \
            "lm_head(hidden(idx)) differs from policy(idx): hidden is not what lm_head reads"
        _, prefix_cache = policy.hidden(idx[:, :-1])
        h_last, _ = policy.hidden(idx[:, -1:], prefix_cache, start=T - 1)
        assert torch.allclose(h_last[:, 0], h[:, -1], atol=1e-5), \
            "hidden(last token, cache of the prefix, start=T-1) differs from the full forward"
    params = [p for p in policy.parameters() if p.requires_grad]
    probe = torch.randn(logits.shape, generator=torch.Generator().manual_seed(0))
    grads = torch.autograd.grad((policy(idx) * probe).sum(), params, allow_unused=True)
    unused = sum(g is None or not g.any() for g in grads)
    assert params and unused == 0, f"{unused} of {len(params)} parameters get no gradient"
