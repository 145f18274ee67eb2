"""The plots of notebook 01 (importance weighting): P_θ and f, P_θ moving, variance against KL, 1/√N.

Notebook 03 reuses `plot_error_vs_samples` for REINFORCE's 1/√N. matplotlib only, headless-safe.
The estimators and exact answers live in `pgcourse.tabular.importance`; these functions only draw what they
are given. Each returns the figure (an animation: an `IPython.display.HTML` object) so that a
notebook cell can show it and a test can inspect it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation

from pgcourse.tabular import importance as iw
from pgcourse.notebook.animation import placeholder_while_grading, to_jshtml


def bar_distribution(ax: plt.Axes, p: np.ndarray, f: np.ndarray | None = None, title: str = "") -> None:
    """Bars of P(x) over outcomes x, with f(x) as dots on a second axis when given."""
    K = len(p)
    ax.bar(range(K), p, color="tab:blue", alpha=0.8, label=r"$P_\theta(x)$")
    ax.set_ylim(0, 1)
    ax.set_xticks(range(K))
    ax.set_xlabel("outcome $x$")
    ax.set_ylabel(r"$P_\theta(x)$")
    if f is not None:
        ax2 = ax.twinx()
        ax2.plot(range(K), f, "o", color="tab:red", label="$f(x)$")
        ax2.set_ylabel("$f(x)$", color="tab:red")
    if title:
        ax.set_title(title)


def animate_categorical(thetas: Sequence[np.ndarray], f: np.ndarray, every: int = 1,
                        interval_ms: int = 80) -> "IPython.display.HTML":
    """An animation of P_θ = softmax(θ) along a path θ_0, θ_1, … (bars), with f(x) and J(θ_t)."""
    from IPython.display import HTML

    thetas = np.asarray(thetas)[::every]
    f = np.asarray(f, dtype=float)
    probs = iw.softmax(thetas)
    if (placeholder := placeholder_while_grading(len(probs))) is not None:
        return HTML(placeholder)
    K = probs.shape[1]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bars = ax.bar(range(K), probs[0], color="tab:blue", alpha=0.8)
    ax.set_ylim(0, 1)
    ax.set_xticks(range(K), [f"x={k}\nf={v:g}" for k, v in enumerate(f)])
    ax.set_ylabel(r"$P_\theta(x)$")
    title = ax.set_title("")
    fig.tight_layout()

    def draw(t: int):
        for bar, height in zip(bars, probs[t]):
            bar.set_height(height)
        title.set_text(rf"step {t * every}:  $J(\theta) = {probs[t] @ f:.3f}$  (max $f$ = {f.max():g})")
        return (*bars, title)

    anim = animation.FuncAnimation(fig, draw, frames=len(probs), interval=interval_ms, blit=False)
    html = HTML(to_jshtml(anim, len(probs), desc="rendering frames"))
    plt.close(fig)
    return html


def plot_gaussian_path(path: np.ndarray, sigma: float, f: Callable[[np.ndarray], np.ndarray],
                       snapshots: int = 5) -> plt.Figure:
    """Densities N(θ_t, σ²) at a few steps of a path, over f(x), and J(θ_t) along the path."""
    path = np.asarray(path, dtype=float)
    lo, hi = min(path.min(), path.max()) - 4 * sigma, max(path.min(), path.max()) + 4 * sigma
    x = np.linspace(lo, hi, 600)
    fig, (ax, ax_j) = plt.subplots(1, 2, figsize=(11, 3.5))
    steps = np.linspace(0, len(path) - 1, snapshots).astype(int)
    colors = plt.cm.viridis(np.linspace(0, 0.9, snapshots))
    for t, color in zip(steps, colors):
        ax.plot(x, iw.gaussian_pdf(x, path[t], sigma), color=color, label=rf"step {t}: $\theta$={path[t]:.2f}")
    ax.set_xlabel("$x$")
    ax.set_ylabel(r"density of $\mathcal{N}(\theta, \sigma^2)$")
    ax_f = ax.twinx()
    ax_f.plot(x, f(x), "--", color="tab:red")
    ax_f.set_ylabel("$f(x)$", color="tab:red")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(r"$P_\theta$ moves toward larger $f$")
    ax_j.plot([iw.gaussian_objective(t, sigma, f) for t in path])
    ax_j.set_xlabel("gradient-ascent step")
    ax_j.set_ylabel(r"$J(\theta) = E_{x\sim P_\theta}[f(x)]$")
    ax_j.set_title("the objective along the path")
    fig.tight_layout()
    return fig


def plot_variance_vs_kl(kls: np.ndarray, variances: np.ndarray, reference: float | None = None) -> plt.Figure:
    """Total variance of one sample's importance-weighted term against KL(P_θ ‖ ρ)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.semilogy(kls, variances, "o-", ms=3, label=r"importance weighting with $\rho$")
    if reference is not None:
        ax.axhline(reference, color="gray", ls="--", label=r"$\rho = P_\theta$ (score function)")
    ax.set_xlabel(r"KL$(P_\theta \,\|\, \rho)$")
    ax.set_ylabel(r"$E_{x\sim\rho}\,\|g(x) - \nabla_\theta J\|^2$")
    ax.set_title("variance of one sample's gradient term")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_error_vs_samples(ns: np.ndarray, errors: np.ndarray, label: str = "estimate") -> plt.Figure:
    """Log-log plot of ‖estimate − exact‖ against N with a 1/√N guide line."""
    ns, errors = np.asarray(ns, dtype=float), np.asarray(errors, dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.loglog(ns, errors, "o-", label=label)
    ax.loglog(ns, errors[0] * np.sqrt(ns[0] / ns), "k--", label=r"$\propto 1/\sqrt{N}$")
    ax.set_xlabel("number of samples $N$")
    ax.set_ylabel(r"$\|\hat g - \nabla_\theta J\|$")
    ax.legend()
    fig.tight_layout()
    return fig
