"""A tiny decoder-only transformer (nanoGPT style), batched sampling with a KV cache, log-probs.

The policy π_θ(y | x) = Π_t π_θ(y_t | x, y_<t) is this network read autoregressively after the
prompt x. 2 layers, width 64, 4 heads: ~110k parameters, enough for phrase-level tokens.

References: Vaswani et al. 2017; Radford et al. 2019 (GPT-2); Karpathy, nanoGPT (model.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Iterator, Protocol, runtime_checkable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import EOS, PAD, VOCAB_SIZE, response_mask

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (B, nh, T, hs)


@runtime_checkable
class LMPolicy(Protocol):
    """What the lab's sampling, log-probs and RL loops use of a policy π_θ: the lab's `GPT` and
    `hf.HFPolicy` (a `transformers` causal LM) both satisfy it."""

    lm_head: nn.Module  # (…, C) -> (…, V) logits

    def __call__(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) tokens -> (B, T, V) logits; logits[:, t] predict token t + 1."""
        ...

    def hidden(self, idx: torch.Tensor, cache: Any = None, start: int = 0
               ) -> tuple[torch.Tensor, Any]:
        """(B, T) tokens after `start` cached positions -> (B, T, C) final hidden states, new cache."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """θ, for the optimiser (and the copy that becomes π_θ while π_ref stays frozen)."""
        ...


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = VOCAB_SIZE  # V: phrase tokens plus <pad> <bos> TL;DR: <end>
    block_size: int = 24  # longest sequence: prompt (16) + response (8)
    n_layer: int = 2  # transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 64  # width C


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"n_embd={cfg.n_embd} not divisible by n_head={cfg.n_head}")
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        if cache is not None:  # decoding one token: its query sees every cached position
            if T != 1:
                raise ValueError(f"with a KV cache, feed one token at a time (got T={T})")
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y), (k, v)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd))

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, new_cache = self.attn(self.ln_1(x), cache)
        x = x + a
        return x + self.mlp(self.ln_2(x)), new_cache


class GPT(nn.Module):
    """Token + position embeddings, n_layer blocks, final LayerNorm, tied LM head."""

    def __init__(self, cfg: ModelConfig = ModelConfig(), seed: int = 0):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in GPT-2
        g = torch.Generator().manual_seed(seed)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / (2 * cfg.n_layer) ** 0.5 if name.endswith("c_proj.weight") else 0.02
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=g) * std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def hidden(self, idx: torch.Tensor, cache: KVCache | None = None, start: int = 0
               ) -> tuple[torch.Tensor, KVCache]:
        """(B, T) tokens at positions start..start+T-1 -> (B, T, C) final hidden states, new cache."""
        B, T = idx.shape
        if start + T > self.cfg.block_size:
            raise ValueError(f"sequence of {start + T} tokens > block_size {self.cfg.block_size}")
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, C)
        new_cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.ln_f(x), new_cache

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) tokens -> (B, T, V) logits; logits[:, t] predict token t + 1."""
        return self.lm_head(self.hidden(idx)[0])


class ScalarHeadModel(nn.Module):
    """s(x) = w · h(x) + c: a copy of a policy's network (body) with a linear scalar head (head)
    on a final hidden state, for the reward model and PPO's value model. The width C is read from
    the policy's lm_head (C -> V), so the same head fits the lab's GPT and `hf.HFPolicy`."""

    def __init__(self, policy: LMPolicy, seed: int = 0):
        super().__init__()
        self.body = copy.deepcopy(policy)
        self.head = nn.Linear(policy.lm_head.in_features, 1)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # w ~ N(0, 0.02²) from `seed`, c = 0
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=g) * 0.02)
            self.head.bias.zero_()

    def score(self, h: torch.Tensor) -> torch.Tensor:
        """(B, C) hidden states of the body -> (B,) scalars w · h + c."""
        return self.head(h).squeeze(-1)


@torch.no_grad()
def generate(model: LMPolicy, prompts: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             generator: torch.Generator | None = None, greedy: bool = False,
             use_cache: bool = True) -> torch.Tensor:
    """Sample y_t ~ softmax(logits / temperature) (or argmax if greedy) until <end> or the cap.

    prompts: (B, Tp) left-padded, all ending at column Tp - 1. Returns (B, max_new_tokens) response
    tokens, <pad> after each row's first <end>. With use_cache the prompt is encoded once and each
    step feeds one token through the KV cache; without it each step reruns the whole prefix
    (same result, used by the tests).
    """
    if not greedy and temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    B, Tp = prompts.shape
    out = torch.full((B, max_new_tokens), PAD, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    seq = prompts
    h, cache = model.hidden(prompts) if use_cache else (None, None)
    for t in range(max_new_tokens):
        if not use_cache:
            h, _ = model.hidden(seq)
        logits = model.lm_head(h[:, -1])  # (B, V)
        if greedy:
            nxt = logits.argmax(dim=-1)
        else:
            probs = F.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        out[:, t] = nxt
        done |= nxt == EOS
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        if use_cache:
            h, cache = model.hidden(nxt[:, None], cache, start=Tp + t)
        else:
            seq = torch.cat([seq, nxt[:, None]], dim=1)
    return out


def response_logits(model: LMPolicy, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Logits that predict each response token: (B, Tp) and (B, R) -> (B, R, V).

    logits[:, t] = log-odds of π_θ(· | x, y_<t), read at column Tp - 1 + t of [x; y].
    """
    Tp = prompts.shape[1]
    full = torch.cat([prompts, responses], dim=1)[:, :-1]  # (B, Tp + R - 1)
    return model(full)[:, Tp - 1:]  # (B, R, V)


def token_log_probs(model: LMPolicy, prompts: torch.Tensor, responses: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token log-probs ln π_θ(y_t | x, y_<t) of given responses, zero where mask is 0 (default:
    the response mask, 1 up to and including the first <end>). The lab's one masked log-prob.

    (B, Tp), (B, R), (B, R) -> (B, R); sum over t for the sequence log-prob ln π_θ(y | x).
    """
    return picked_log_probs(response_logits(model, prompts, responses), responses,
                            response_mask(responses) if mask is None else mask)


def picked_log_probs(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ln softmax(logits_t)[y_t] where mask_t > 0, else 0: (B, R, V), (B, R), (B, R) -> (B, R)."""
    picked = F.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, R)
    return torch.where(mask > 0, picked, torch.zeros_like(picked))
