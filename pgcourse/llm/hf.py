"""Run the lab's RL code on a Hugging Face `transformers` causal language model.

The lab's functions (`model.generate`, `model.response_logits`, `rl.train_rl`, `ppo.train_ppo`,
`rebel.train_rebel`) only use what the protocol `model.LMPolicy` declares:
    policy(idx)                       (B, T) tokens -> (B, T, V) logits
    policy.hidden(idx, cache, start)  -> (B, T, C) final hidden states and a new KV cache
    policy.lm_head(h)                 (…, C) -> (…, V) logits
    policy.parameters()               θ, for the optimiser
`HFPolicy` gives a `transformers` model (GPT-2, Llama, Qwen, ...) exactly that interface, so the
same RL code runs unchanged on it, on a GPU where the model lives there:

    from transformers import AutoModelForCausalLM            # pip install "pgcourse[hf]"
    policy = HFPolicy(AutoModelForCausalLM.from_pretrained(path_to_local_checkpoint))
    policy, hist = train_rl(policy, reward_fn, posts, seed=0, cfg=RLConfig(k=4))

`reward_fn(prompts, responses) -> (B,)` may be any callable (a learned RM, a judge). Tokens are the
lab's phrase tokens here; for a real checkpoint, bring its tokenizer and your own prompts/rewards.
Like the lab's GPT, no attention mask is used: prompts share one length and the model attends to
padding as it was trained to.

References: Wolf et al. 2020 (transformers); Huang et al. 2024; Ahmadian et al. 2024.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class HFPolicy(nn.Module):
    """Wrap a `transformers` causal LM (`...ForCausalLM`) in the lab's policy interface."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if not hasattr(model, "get_output_embeddings") or model.get_output_embeddings() is None:
            raise TypeError(f"{type(model).__name__} has no output embeddings: pass a causal LM "
                            "(e.g. AutoModelForCausalLM), not a bare model")
        self.model = model

    @property
    def lm_head(self) -> nn.Module:
        """The model's output projection (C -> V)."""
        return self.model.get_output_embeddings()

    def hidden(self, idx: torch.Tensor, cache: object = None, start: int = 0) -> tuple[torch.Tensor, object]:
        """(B, T) tokens after `start` cached positions -> (B, T, C) final hidden states (after the
        model's last norm, what lm_head reads), and the updated cache (a transformers Cache)."""
        out = self.model(input_ids=idx, past_key_values=cache, use_cache=True,
                         output_hidden_states=True)
        return out.hidden_states[-1], out.past_key_values

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) tokens -> (B, T, V) logits; logits[:, t] predict token t + 1."""
        return self.model(input_ids=idx, use_cache=False).logits


def tiny_gpt2(vocab_size: int, n_layer: int = 1, n_embd: int = 32, n_head: int = 2,
              n_positions: int = 32, seed: int = 0) -> HFPolicy:
    """A randomly initialised GPT-2 from `transformers` (no download), wrapped: for tests/demos."""
    from transformers import GPT2Config, GPT2LMHeadModel  # optional extra: pgcourse[hf]

    cfg = GPT2Config(vocab_size=vocab_size, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                     n_positions=n_positions, bos_token_id=None, eos_token_id=None)
    with torch.random.fork_rng(devices=[]):  # transformers draws from the global generator
        torch.manual_seed(seed)
        return HFPolicy(GPT2LMHeadModel(cfg))
