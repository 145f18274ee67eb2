"""Plausible wrong answers (and other correct ones) for notebook 06: the four RL pieces on a language model and REBEL."""

import torch
import torch.nn.functional as F

from mutation import Exercise

NOTEBOOK = "06_llm_summarization"


# ---- sequence_log_prob: wrong ------------------------------------------------------------------

def _picked(logits, tokens):
    return F.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def slp_includes_prompt(logits, tokens, mask):
    return _picked(logits, tokens).sum(dim=1)


def slp_mean_over_response_tokens(logits, tokens, mask):
    return (_picked(logits, tokens) * mask).sum(1) / mask.sum(1).clamp(min=1)


def slp_mean_over_T(logits, tokens, mask):
    return (_picked(logits, tokens) * mask).mean(dim=1)


def slp_raw_logits(logits, tokens, mask):
    return (logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) * mask).sum(1)


def slp_probabilities(logits, tokens, mask):
    return (F.softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1) * mask).sum(1)


def slp_softmax_over_time(logits, tokens, mask):
    return (F.log_softmax(logits, dim=1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1) * mask).sum(1)


def slp_masks_logits(logits, tokens, mask):
    return _picked(logits * mask.unsqueeze(-1), tokens).sum(1)


def slp_shifted_by_one(logits, tokens, mask):
    lp = F.log_softmax(logits[:, :-1], -1).gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return (lp * mask[:, 1:]).sum(1)


def slp_detached(logits, tokens, mask):
    return (_picked(logits, tokens) * mask).sum(1).detach()


def slp_sign_flipped(logits, tokens, mask):
    return -(_picked(logits, tokens) * mask).sum(1)


def slp_batch_total(logits, tokens, mask):
    return (_picked(logits, tokens) * mask).sum()


# ---- sequence_log_prob: correct ----------------------------------------------------------------

def slp_loops(logits, tokens, mask):
    B, T, _ = logits.shape
    out = []
    for b in range(B):
        total = logits.new_zeros(())
        for t in range(T):
            if mask[b, t] != 0:
                total = total + torch.log_softmax(logits[b, t], dim=0)[tokens[b, t]] * mask[b, t]
        out.append(total)
    return torch.stack(out)


def slp_one_hot_logsumexp(logits, tokens, mask):
    one_hot = F.one_hot(tokens, logits.shape[-1]).to(logits.dtype)
    logp = (logits * one_hot).sum(-1) - torch.logsumexp(logits, dim=-1)
    return torch.where(mask > 0, logp, torch.zeros_like(logp)).sum(-1)


def slp_categorical(logits, tokens, mask):
    return (torch.distributions.Categorical(logits=logits).log_prob(tokens) * mask).sum(-1)


def slp_cross_entropy(logits, tokens, mask):
    B, T, V = logits.shape
    nll = F.cross_entropy(logits.reshape(B * T, V), tokens.reshape(-1), reduction="none").view(B, T)
    return -(nll * mask).sum(1)


# ---- kl_penalized_reward -----------------------------------------------------------------------

def kl_sign_flipped(scores, logp, ref_logp, beta):
    return (scores + beta * (logp - ref_logp)).detach()


def kl_carries_gradient(scores, logp, ref_logp, beta):
    return scores - beta * (logp - ref_logp)


def kl_detaches_only_logp(scores, logp, ref_logp, beta):
    return scores - beta * (logp.detach() - ref_logp.detach())


def kl_no_beta(scores, logp, ref_logp, beta):
    return (scores - (logp - ref_logp)).detach()


def kl_beta_on_everything(scores, logp, ref_logp, beta):
    return (beta * (scores - (logp - ref_logp))).detach()


def kl_forgets_score(scores, logp, ref_logp, beta):
    return (-beta * (logp - ref_logp)).detach()


def kl_probability_ratio(scores, logp, ref_logp, beta):
    return (scores - beta * torch.exp(logp - ref_logp)).detach()


def kl_averages_kl(scores, logp, ref_logp, beta):
    return (scores - beta * (logp - ref_logp).mean()).detach()


def kl_in_place(scores, logp, ref_logp, beta):
    scores = scores.detach()
    scores -= beta * (logp.detach() - ref_logp.detach())
    return scores


def kl_as_numpy(scores, logp, ref_logp, beta):
    return (scores - beta * (logp - ref_logp)).detach().numpy()


def kl_correct(scores, logp, ref_logp, beta):
    return (scores - beta * (logp - ref_logp)).detach()


def kl_no_grad_context(scores, logp, ref_logp, beta):
    with torch.no_grad():
        return scores - beta * logp + beta * ref_logp


def kl_detach_each(scores, logp, ref_logp, beta):
    return torch.sub(scores.detach(), logp.detach() - ref_logp.detach(), alpha=beta)


# ---- rloo_advantages ---------------------------------------------------------------------------

def _check_k(rewards):
    if rewards.shape[1] < 2:
        raise ValueError("k >= 2 needed")


def rloo_baseline_includes_self(rewards):
    _check_k(rewards)
    return rewards - rewards.mean(dim=1, keepdim=True)


def rloo_divides_by_k(rewards):
    _check_k(rewards)
    k = rewards.shape[1]
    return rewards - (rewards.sum(1, keepdim=True) - rewards) / k


def rloo_sign_flipped(rewards):
    _check_k(rewards)
    k = rewards.shape[1]
    return (rewards.sum(1, keepdim=True) - rewards) / (k - 1) - rewards


def rloo_returns_baseline(rewards):
    _check_k(rewards)
    k = rewards.shape[1]
    return (rewards.sum(1, keepdim=True) - rewards) / (k - 1)


def rloo_mixes_prompts(rewards):
    _check_k(rewards)
    n = rewards.numel()
    return rewards - (rewards.sum() - rewards) / (n - 1)


def rloo_wrong_axis(rewards):
    _check_k(rewards)
    P = rewards.shape[0]
    return rewards - (rewards.sum(0, keepdim=True) - rewards) / max(P - 1, 1)


def rloo_normalised(rewards):
    _check_k(rewards)
    return (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-8)


def rloo_no_k_check(rewards):
    k = rewards.shape[1]
    return rewards - (rewards.sum(1, keepdim=True) - rewards) / max(k - 1, 1)


def rloo_in_place(rewards):
    _check_k(rewards)
    k = rewards.shape[1]
    total = rewards.sum(1, keepdim=True)
    rewards -= (total - rewards) / (k - 1)
    return rewards


def rloo_loops(rewards):
    P, k = rewards.shape
    if k < 2:
        raise ValueError(f"need k >= 2 samples per prompt, got {k}")
    out = torch.zeros_like(rewards)
    for p in range(P):
        for i in range(k):
            others = [rewards[p, j] for j in range(k) if j != i]
            out[p, i] = rewards[p, i] - sum(others) / (k - 1)
    return out


def rloo_scaled_centering(rewards):
    k = rewards.shape[-1]
    if k < 2:
        raise ValueError("RLOO needs at least two samples per prompt")
    return k / (k - 1) * (rewards - rewards.mean(-1, keepdim=True))


def rloo_matrix(rewards):
    k = rewards.shape[1]
    if k < 2:
        raise ValueError("k must be >= 2")
    leave_one_out = (torch.ones(k, k, dtype=rewards.dtype) - torch.eye(k, dtype=rewards.dtype)) / (k - 1)
    return rewards - rewards @ leave_one_out


# ---- reinforce_lm_loss -------------------------------------------------------------------------

def loss_sign_flipped(seq_logp, advantages):
    return (advantages.detach() * seq_logp).mean()


def loss_advantages_carry_gradient(seq_logp, advantages):
    return -(advantages * seq_logp).mean()


def loss_sum_not_mean(seq_logp, advantages):
    return -(advantages.detach() * seq_logp).sum()


def loss_product_of_means(seq_logp, advantages):
    return -(advantages.detach().mean() * seq_logp.mean())


def loss_probabilities(seq_logp, advantages):
    return -(advantages.detach() * seq_logp.exp()).mean()


def loss_as_float(seq_logp, advantages):
    return -(advantages.detach() * seq_logp).mean().item()


def loss_detached_logp(seq_logp, advantages):
    return -(advantages.detach() * seq_logp.detach()).mean()


def loss_per_sample(seq_logp, advantages):
    return -(advantages.detach() * seq_logp)


def loss_loop(seq_logp, advantages):
    total = seq_logp.new_zeros(())
    for lp, a in zip(seq_logp, advantages):
        total = total - float(a) * lp
    return total / len(seq_logp)


def loss_dot(seq_logp, advantages):
    with torch.no_grad():
        a = advantages.clone()
    return -torch.dot(a, seq_logp) / seq_logp.numel()


def loss_einsum(seq_logp, advantages):
    return -torch.einsum("n,n->", seq_logp, advantages.detach()) / seq_logp.shape[0]


# ---- rebel_loss: wrong -------------------------------------------------------------------------

def _delta(lp1, old1, lp2, old2):
    return (lp1 - old1.detach()) - (lp2 - old2.detach())


def rebel_eta_sign_flipped(lp1, old1, lp2, old2, r1, r2, eta):
    return ((_delta(lp1, old1, lp2, old2) + eta * (r1.detach() - r2.detach())) ** 2).mean()


def rebel_reward_sum(lp1, old1, lp2, old2, r1, r2, eta):
    return ((_delta(lp1, old1, lp2, old2) - eta * (r1.detach() + r2.detach())) ** 2).mean()


def rebel_abs_not_square(lp1, old1, lp2, old2, r1, r2, eta):
    return (_delta(lp1, old1, lp2, old2) - eta * (r1.detach() - r2.detach())).abs().mean()


def rebel_no_square(lp1, old1, lp2, old2, r1, r2, eta):
    return (_delta(lp1, old1, lp2, old2) - eta * (r1.detach() - r2.detach())).mean()


def rebel_sum_not_mean(lp1, old1, lp2, old2, r1, r2, eta):
    return ((_delta(lp1, old1, lp2, old2) - eta * (r1.detach() - r2.detach())) ** 2).sum()


def rebel_old_not_detached(lp1, old1, lp2, old2, r1, r2, eta):
    return (((lp1 - old1) - (lp2 - old2) - eta * (r1.detach() - r2.detach())) ** 2).mean()


def rebel_rewards_not_detached(lp1, old1, lp2, old2, r1, r2, eta):
    return ((_delta(lp1, old1, lp2, old2) - eta * (r1 - r2)) ** 2).mean()


def rebel_old_new_swapped(lp1, old1, lp2, old2, r1, r2, eta):
    return (((old1 - lp1) - (old2 - lp2) - eta * (r1 - r2)).pow(2)).mean()


def rebel_forgets_eta(lp1, old1, lp2, old2, r1, r2, eta):
    return ((_delta(lp1, old1, lp2, old2) - (r1.detach() - r2.detach())) ** 2).mean()


def rebel_half_squared(lp1, old1, lp2, old2, r1, r2, eta):
    return 0.5 * ((_delta(lp1, old1, lp2, old2) - eta * (r1.detach() - r2.detach())) ** 2).mean()


# ---- rebel_loss: correct -----------------------------------------------------------------------

def rebel_loop(lp1, old1, lp2, old2, r1, r2, eta):
    total = lp1.new_zeros(())
    for i in range(lp1.shape[0]):
        res = (lp1[i] - float(old1[i])) - (lp2[i] - float(old2[i])) - eta * (float(r1[i]) - float(r2[i]))
        total = total + res * res
    return total / lp1.shape[0]


def rebel_mse_loss(lp1, old1, lp2, old2, r1, r2, eta):
    with torch.no_grad():
        target = (old1 - old2) + eta * (r1 - r2)
    return F.mse_loss(lp1 - lp2, target)


def rebel_dot(lp1, old1, lp2, old2, r1, r2, eta):
    res = _delta(lp1, old1, lp2, old2) - eta * (r1 - r2).detach()
    return torch.dot(res, res) / res.numel()


EXERCISES = [
    Exercise("test_sequence_log_prob", "sequence_log_prob",
             wrong=[slp_includes_prompt, slp_mean_over_response_tokens, slp_mean_over_T, slp_raw_logits,
                    slp_probabilities, slp_softmax_over_time, slp_masks_logits, slp_shifted_by_one, slp_detached,
                    slp_sign_flipped, slp_batch_total],
             correct=[slp_loops, slp_one_hot_logsumexp, slp_categorical, slp_cross_entropy]),
    Exercise("test_kl_penalized_reward", "kl_penalized_reward",
             wrong=[kl_sign_flipped, kl_carries_gradient, kl_detaches_only_logp, kl_no_beta, kl_beta_on_everything,
                    kl_forgets_score, kl_probability_ratio, kl_in_place, kl_as_numpy, kl_averages_kl],
             correct=[kl_correct, kl_no_grad_context, kl_detach_each],
             hints={"kl_averages_kl": "averaged the KL", "kl_sign_flipped": "wrong sign", "kl_no_beta": "β is missing",
                    "kl_forgets_score": "the score is missing", "kl_probability_ratio": "ratio of probabilities"}),
    Exercise("test_rloo_advantages", "rloo_advantages",
             wrong=[rloo_baseline_includes_self, rloo_divides_by_k, rloo_sign_flipped, rloo_returns_baseline,
                    rloo_mixes_prompts, rloo_wrong_axis, rloo_normalised, rloo_no_k_check, rloo_in_place],
             correct=[rloo_loops, rloo_scaled_centering, rloo_matrix]),
    Exercise("test_reinforce_lm_loss", "reinforce_lm_loss",
             wrong=[loss_sign_flipped, loss_advantages_carry_gradient, loss_sum_not_mean, loss_product_of_means,
                    loss_probabilities, loss_as_float, loss_detached_logp, loss_per_sample],
             correct=[loss_loop, loss_dot, loss_einsum]),
    Exercise("test_rebel_loss", "rebel_loss",
             wrong=[rebel_eta_sign_flipped, rebel_reward_sum, rebel_abs_not_square, rebel_no_square,
                    rebel_sum_not_mean, rebel_old_not_detached, rebel_rewards_not_detached, rebel_old_new_swapped,
                    rebel_forgets_eta, rebel_half_squared],
             correct=[rebel_loop, rebel_mse_loss, rebel_dot],
             hints={"rebel_sum_not_mean": "you summed over the prompts", "rebel_no_square": "forgot to square",
                    "rebel_reward_sum": "not the sum", "rebel_abs_not_square": "not its absolute value"}),
]
