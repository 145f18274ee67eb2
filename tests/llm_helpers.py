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
