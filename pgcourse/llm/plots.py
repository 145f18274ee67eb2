"""Plots for the LLM lab: RM score vs gold score over RL steps (reward hacking), and KL.

Training returns histories; plotting is a separate call (see docs/notes/style.md).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .rl import RLHistory


def _smooth(x: list[float], w: int) -> np.ndarray:
    x = np.asarray(x, float)
    if w <= 1 or x.size < w:
        return x
    return np.convolve(x, np.ones(w) / w, mode="valid")


def plot_rl_histories(histories: dict[str, RLHistory], smooth: int = 10):
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
