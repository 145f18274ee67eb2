"""Plausible wrong answers (and other correct ones) for notebook 02's exercises."""

import numpy as np
import torch

from mutation import Exercise

NOTEBOOK = "02_softmax_policies"


def _stable_rows(logits):
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


# ---- tabular_softmax_policy ----------------------------------------------------------------------

def ts_wrong_axis(theta):
    theta = np.asarray(theta, dtype=float)
    z = np.exp(theta - theta.max(axis=0, keepdims=True))
    return z / z.sum(axis=0, keepdims=True)


def ts_no_max_subtraction(theta):
    z = np.exp(np.asarray(theta, dtype=float))
    return z / z.sum(axis=1, keepdims=True)


def ts_global_max_subtraction(theta):
    theta = np.asarray(theta, dtype=float)
    z = np.exp(theta - theta.max())
    return z / z.sum(axis=1, keepdims=True)


def ts_normalises_whole_table(theta):
    theta = np.asarray(theta, dtype=float)
    z = np.exp(theta - theta.max())
    return z / z.sum()


def ts_not_normalised(theta):
    theta = np.asarray(theta, dtype=float)
    return np.exp(theta - theta.max(axis=1, keepdims=True))


def ts_softmax_of_minus_theta(theta):
    return _stable_rows(-np.asarray(theta, dtype=float))


def ts_modifies_input(theta):
    theta -= theta.max(axis=1, keepdims=True)          # in place: the caller's θ changes
    z = np.exp(theta)
    return z / z.sum(axis=1, keepdims=True)


def ts_loop(theta):
    theta = np.asarray(theta, dtype=float)
    out = np.empty_like(theta)
    for s, row in enumerate(theta):
        z = [np.exp(x - max(row)) for x in row]
        out[s] = np.array(z) / sum(z)
    return out


def ts_torch(theta):
    return torch.softmax(torch.as_tensor(np.asarray(theta, dtype=float)), dim=1).numpy()


def ts_logsumexp(theta):
    theta = np.asarray(theta, dtype=float)
    m = theta.max(axis=1, keepdims=True)
    return np.exp(theta - m - np.log(np.exp(theta - m).sum(axis=1, keepdims=True)))


def ts_apply_along_axis(theta):
    return np.apply_along_axis(lambda row: np.exp(row - row.max()) / np.exp(row - row.max()).sum(), 1,
                               np.asarray(theta, dtype=float))


# ---- grad_log_tabular_softmax --------------------------------------------------------------------

def _pi_row(theta, s):
    theta = np.asarray(theta, dtype=float)
    return theta, _stable_rows(theta[s])


def gt_missing_pi_term(theta, s, a):
    theta, _ = _pi_row(theta, s)
    g = np.zeros_like(theta)
    g[s, a] = 1.0
    return g


def gt_pi_in_every_row(theta, s, a):
    theta, _ = _pi_row(theta, s)
    g = -_stable_rows(theta)
    g[s, a] += 1.0
    return g


def gt_grad_of_pi(theta, s, a):
    theta, pi_s = _pi_row(theta, s)
    g = np.zeros_like(theta)
    g[s] = pi_s[a] * (np.eye(len(pi_s))[a] - pi_s)
    return g


def gt_uniform_instead_of_pi(theta, s, a):
    theta, pi_s = _pi_row(theta, s)
    g = np.zeros_like(theta)
    g[s] = np.eye(len(pi_s))[a] - 1.0 / len(pi_s)
    return g


def gt_sign_flipped(theta, s, a):
    theta, pi_s = _pi_row(theta, s)
    g = np.zeros_like(theta)
    g[s] = pi_s - np.eye(len(pi_s))[a]
    return g


def gt_no_max_subtraction(theta, s, a):
    theta = np.asarray(theta, dtype=float)
    z = np.exp(theta[s])
    g = np.zeros_like(theta)
    g[s] = np.eye(theta.shape[1])[a] - z / z.sum()
    return g


def gt_softmax_over_states(theta, s, a):
    theta = np.asarray(theta, dtype=float)
    pi_col = _stable_rows(theta.T).T                  # normalised over states
    g = np.zeros_like(theta)
    g[s] = np.eye(theta.shape[1])[a] - pi_col[s]
    return g


def gt_loop(theta, s, a):
    theta = np.asarray(theta, dtype=float)
    S, A = theta.shape
    row = theta[s] - theta[s].max()
    total = sum(np.exp(x) for x in row)
    g = np.zeros((S, A))
    for b in range(A):
        g[s, b] = (1.0 if b == a else 0.0) - np.exp(row[b]) / total
    return g


def gt_autograd(theta, s, a):
    t = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
    torch.log_softmax(t, dim=1)[s, a].backward()
    return t.grad.numpy()


# ---- linear_softmax_policy -----------------------------------------------------------------------

def ls_wrong_axis(theta, phi):
    logits = np.asarray(phi, dtype=float) @ np.asarray(theta, dtype=float)
    z = np.exp(logits - logits.max(axis=0, keepdims=True))
    return z / z.sum(axis=0, keepdims=True)


def ls_no_max_subtraction(theta, phi):
    z = np.exp(np.asarray(phi, dtype=float) @ np.asarray(theta, dtype=float))
    return z / z.sum(axis=1, keepdims=True)


def ls_flattened_softmax(theta, phi):
    logits = np.asarray(phi, dtype=float) @ np.asarray(theta, dtype=float)
    z = np.exp(logits - logits.max())
    return z / z.sum()


def ls_returns_logits(theta, phi):
    return np.asarray(phi, dtype=float) @ np.asarray(theta, dtype=float)


def ls_features_summed(theta, phi):
    """θᵀ Σ_a' φ(s, a'): the logits forget which action they belong to, except by broadcasting."""
    phi, theta = np.asarray(phi, dtype=float), np.asarray(theta, dtype=float)
    logits = phi.sum(axis=1, keepdims=True) @ theta + phi[..., 0]
    return _stable_rows(logits)


def ls_loop(theta, phi):
    phi, theta = np.asarray(phi, dtype=float), np.asarray(theta, dtype=float)
    S, A, _ = phi.shape
    out = np.empty((S, A))
    for s in range(S):
        logits = [float(theta @ phi[s, a]) for a in range(A)]
        m = max(logits)
        z = [np.exp(l - m) for l in logits]
        out[s] = np.array(z) / sum(z)
    return out


def ls_torch(theta, phi):
    logits = torch.as_tensor(np.asarray(phi, dtype=float)) @ torch.as_tensor(np.asarray(theta, dtype=float))
    return torch.softmax(logits, dim=-1).numpy()


# ---- grad_log_linear_softmax ---------------------------------------------------------------------

def _lin(theta, phi, s):
    theta, phi = np.asarray(theta, dtype=float), np.asarray(phi, dtype=float)
    return theta, phi, _stable_rows(phi[s] @ theta)


def gl_missing_expectation(theta, phi, s, a):
    theta, phi, _ = _lin(theta, phi, s)
    return phi[s, a].copy()


def gl_uniform_mean(theta, phi, s, a):
    theta, phi, _ = _lin(theta, phi, s)
    return phi[s, a] - phi[s].mean(axis=0)


def gl_grad_of_pi(theta, phi, s, a):
    theta, phi, pi_s = _lin(theta, phi, s)
    return pi_s[a] * (phi[s, a] - pi_s @ phi[s])


def gl_expectation_over_all_states(theta, phi, s, a):
    theta, phi, _ = _lin(theta, phi, s)
    pi = _stable_rows(phi @ theta)
    return phi[s, a] - np.einsum("xa,xad->d", pi, phi)


def gl_sign_flipped(theta, phi, s, a):
    theta, phi, pi_s = _lin(theta, phi, s)
    return pi_s @ phi[s] - phi[s, a]


def gl_no_max_subtraction(theta, phi, s, a):
    theta, phi = np.asarray(theta, dtype=float), np.asarray(phi, dtype=float)
    z = np.exp(phi[s] @ theta)
    return phi[s, a] - (z / z.sum()) @ phi[s]


def gl_loop(theta, phi, s, a):
    theta, phi = np.asarray(theta, dtype=float), np.asarray(phi, dtype=float)
    A = phi.shape[1]
    logits = [float(theta @ phi[s, b]) for b in range(A)]
    weights = [np.exp(l - max(logits)) for l in logits]
    mean_phi = sum(w * phi[s, b] for b, w in enumerate(weights)) / sum(weights)
    return phi[s, a] - mean_phi


def gl_autograd(theta, phi, s, a):
    t = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
    torch.log_softmax(torch.as_tensor(np.asarray(phi, dtype=float)) @ t, dim=-1)[s, a].backward()
    return t.grad.numpy()


# ---- neural_log_prob -----------------------------------------------------------------------------

def _idx(actions):
    actions = torch.as_tensor(actions, dtype=torch.long)
    return torch.arange(len(actions)), actions


def nl_returns_probs(net, states, actions):
    i, a = _idx(actions)
    return torch.softmax(net(states), dim=-1)[i, a]


def nl_log_softmax_batch_axis(net, states, actions):
    i, a = _idx(actions)
    return torch.log_softmax(net(states), dim=0)[i, a]


def nl_raw_logits(net, states, actions):
    i, a = _idx(actions)
    return net(states)[i, a]


def nl_detached(net, states, actions):
    i, a = _idx(actions)
    return torch.log_softmax(net(states), dim=-1)[i, a].detach()


def nl_log_of_softmax(net, states, actions):
    i, a = _idx(actions)
    return torch.log(torch.softmax(net(states), dim=-1))[i, a]


def nl_gather_wrong_dim(net, states, actions):
    _, a = _idx(actions)
    return torch.log_softmax(net(states), dim=-1).gather(0, a[None, :]).squeeze(0)


def nl_every_action(net, states, actions):
    """ln π(a_j | s_i) for all pairs, summed: the actions are not matched to their states."""
    _, a = _idx(actions)
    return torch.log_softmax(net(states), dim=-1)[:, a].mean(dim=1)


def nl_returns_numpy(net, states, actions):
    i, a = _idx(actions)
    return torch.log_softmax(net(states), dim=-1)[i, a].detach().numpy()


def nl_under_no_grad(net, states, actions):
    with torch.no_grad():
        i, a = _idx(actions)
        return torch.log_softmax(net(states), dim=-1)[i, a]


def nl_cross_entropy(net, states, actions):
    return -torch.nn.functional.cross_entropy(net(states), torch.as_tensor(actions, dtype=torch.long),
                                              reduction="none")


def nl_categorical(net, states, actions):
    return torch.distributions.Categorical(logits=net(states)).log_prob(torch.as_tensor(actions, dtype=torch.long))


def nl_loop_logsumexp(net, states, actions):
    logits = net(states)
    return torch.stack([logits[i, int(a)] - torch.logsumexp(logits[i], dim=0) for i, a in enumerate(actions)])


def gt_swapped_s_and_a(theta, s, a):
    return gt_loop(theta, a, s)


EXERCISES = [
    Exercise("test_tabular_softmax_policy", "tabular_softmax_policy",
             wrong=[ts_wrong_axis, ts_no_max_subtraction, ts_global_max_subtraction, ts_normalises_whole_table,
                    ts_not_normalised, ts_softmax_of_minus_theta, ts_modifies_input],
             correct=[ts_loop, ts_torch, ts_logsumexp, ts_apply_along_axis],
             hints={"ts_wrong_axis": "you normalised over states (axis 0)", "ts_not_normalised": "without normalising",
                    "ts_normalises_whole_table": "the sum over the whole table"}),
    Exercise("test_grad_log_tabular_softmax", "grad_log_tabular_softmax",
             wrong=[gt_missing_pi_term, gt_pi_in_every_row, gt_grad_of_pi, gt_uniform_instead_of_pi, gt_sign_flipped,
                    gt_no_max_subtraction, gt_softmax_over_states, gt_swapped_s_and_a],
             correct=[gt_loop, gt_autograd],
             hints={"gt_swapped_s_and_a": "s and a are swapped", "gt_softmax_over_states": "you normalised over the states",
                    "gt_missing_pi_term": "the −π_θ(·|s) term is missing", "gt_grad_of_pi": "gradient of the *log*",
                    "gt_pi_in_every_row": "you subtracted π_θ in every row"}),
    Exercise("test_linear_softmax_policy", "linear_softmax_policy",
             wrong=[ls_wrong_axis, ls_no_max_subtraction, ls_flattened_softmax, ls_returns_logits, ls_features_summed],
             correct=[ls_loop, ls_torch], hints={"ls_wrong_axis": "you normalised over states (axis 0)"}),
    Exercise("test_grad_log_linear_softmax", "grad_log_linear_softmax",
             wrong=[gl_missing_expectation, gl_uniform_mean, gl_grad_of_pi, gl_expectation_over_all_states,
                    gl_sign_flipped, gl_no_max_subtraction],
             correct=[gl_loop, gl_autograd]),
    Exercise("test_neural_log_prob", "neural_log_prob",
             wrong=[nl_returns_probs, nl_log_softmax_batch_axis, nl_raw_logits, nl_detached, nl_log_of_softmax,
                    nl_gather_wrong_dim, nl_every_action, nl_returns_numpy, nl_under_no_grad],
             correct=[nl_cross_entropy, nl_categorical, nl_loop_logsumexp],
             hints={"nl_log_softmax_batch_axis": "over the batch axis (dim=0)"}),
]
