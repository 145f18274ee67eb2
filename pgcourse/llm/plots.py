"""Plots for the LLM lab: RM score vs gold score over RL steps (reward hacking) and KL, and the
over-optimization figure (proxy vs gold against KL).

Training returns histories; plotting is a separate call (see docs/notes/style.md).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .overoptimization import KLCurve, OverOptRun
from .rollout import RLHistory


def _smooth(x: list[float], w: int) -> np.ndarray:
    x = np.asarray(x, float)
    if w <= 1 or x.size < w:
        return x
    return np.convolve(x, np.ones(w) / w, mode="valid")


def plot_rl_histories(histories: dict[str, RLHistory], smooth: int = 10) -> Figure:
    """Three panels over samples seen: RM score, gold score, KL to SFT (moving average of `smooth`
    steps). When RM rises while gold stalls or falls, the policy is exploiting the reward model."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, h in histories.items():
        x = np.asarray(h.samples)[smooth - 1:] if len(h.samples) >= smooth else np.asarray(h.samples)
        for ax, series in zip(axes, (h.rm_score, h.gold_score, h.kl)):
            ax.plot(x, _smooth(series, smooth), label=name)
    for ax, title, ylabel in zip(axes, ("RM score (what RL maximises)", "gold score (what we want)",
                                        "KL(π_θ ‖ π_SFT)"),
                                 ("mean over the step's samples", "mean over the step's samples", "nats")):
        ax.set_title(title)
        ax.set_xlabel("samples")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_overoptimization(runs: list[OverOptRun], curves: list[KLCurve], smooth: int = 20) -> Figure:
    """Over-optimization at a glance, one colour per β (solid: proxy r_φ, dashed: gold g).

    Left: the means over KL bins (`overoptimization.kl_binned`, the numbers the notebook prints),
    with the gold peak marked. Middle: the same scores against samples seen (moving average of
    `smooth` steps). Right: the KL from SFT against samples.
    """
    fig, (ax, ax_t, ax_kl) = plt.subplots(1, 3, figsize=(14, 4),
                                          gridspec_kw={"width_ratios": [1.4, 1, 1]})
    for i, (run, cv) in enumerate(zip(runs, curves)):
        h, c, lab = run.history, f"C{i}", f"β={run.beta:g}"
        ax.plot(cv.kl, cv.proxy, c, marker="o", ms=3, label=f"proxy (RM), {lab}")
        ax.plot(cv.kl, cv.gold, c, ls="--", marker="s", ms=3, label=f"gold, {lab}")
        if cv.kl.size:
            ax.plot(cv.kl[cv.peak], cv.gold[cv.peak], c, marker="*", ms=14, mec="k")
        x = np.asarray(h.samples)[len(h.samples) - len(_smooth(h.kl, smooth)):]
        ax_t.plot(x, _smooth(h.rm_score, smooth), c, label=f"proxy, {lab}")
        ax_t.plot(x, _smooth(h.gold_score, smooth), c, ls="--", label=f"gold, {lab}")
        ax_kl.plot(x, _smooth(h.kl, smooth), c, label=lab)
    ax.set_xlabel("KL(π_θ ‖ π_SFT), bins of 1 nat (mean KL of the bin's steps)")
    ax.set_ylabel("mean score per summary (a reference ≈ 0 on the RM)")
    ax.set_title("gold peaks (★) and falls; the proxy stays high")
    ax_t.set_xlabel("samples")
    ax_t.set_ylabel("mean score per summary")
    ax_t.set_title(f"the same scores during training ({smooth}-step average)")
    ax_kl.set_xlabel("samples")
    ax_kl.set_ylabel("KL (nats)")
    ax_kl.set_title("KL from SFT during training")
    for a in (ax, ax_t, ax_kl):
        a.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax_kl.legend(fontsize=8)
    fig.tight_layout()
    return fig
