"""Pictures of REINFORCE on CartPole: learning curves over seeds, a live curve, an agent's animation.

Training returns a ``TrainingHistory``; these functions draw it, headless (Agg) or in Jupyter.
Learning curves are plotted against env steps (the sample cost), smoothed as the running mean of
the last 100 episode returns, the quantity the "solved" criterion (≥ 475) is about.
"""

from __future__ import annotations

import os
import time
from html import escape as html_escape
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from pgcourse.notebook.animation import placeholder_while_grading, to_jshtml
from pgcourse.cartpole import SOLVED_RETURN, SOLVED_WINDOW, CategoricalMLP, TrainingHistory

__all__ = ["smoothed_curve", "plot_learning_curves", "LivePlot", "record_frames", "animate_frames", "animate_policy"]


def smoothed_curve(history: TrainingHistory, window: int = SOLVED_WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """(env steps at each episode end, mean return of the last ``window`` episodes), both (E,)."""
    ret = np.asarray(history.episode_returns, dtype=float)
    steps = np.asarray(history.episode_end_steps, dtype=float)
    if ret.size == 0:
        return steps, ret
    c = np.concatenate([[0.0], np.cumsum(ret)])
    k = np.minimum(np.arange(1, ret.size + 1), window)  # fewer episodes at the start
    end = np.arange(1, ret.size + 1)
    return steps, (c[end] - c[end - k]) / k


def plot_learning_curves(
    runs: Mapping[str, Sequence[TrainingHistory]] | Sequence[TrainingHistory],
    ax: plt.Axes | None = None, window: int = SOLVED_WINDOW, num_points: int = 200,
) -> plt.Figure:
    """Mean over seeds (line) and min–max over seeds (band) of the smoothed return vs env steps.

    ``runs`` maps a label to the histories of several seeds (or is one such list). Each curve is
    interpolated onto a common grid of env steps; a run that stopped early (solved) is held at
    its last value. The dashed line marks the solved threshold 475.
    """
    if not isinstance(runs, Mapping):
        runs = {"REINFORCE": runs}
    if any(len(hs) == 0 for hs in runs.values()):
        raise ValueError("every label needs at least one TrainingHistory")
    fig = ax.figure if ax is not None else plt.figure(figsize=(7, 4))
    ax = ax if ax is not None else fig.add_subplot()
    for label, histories in runs.items():
        max_steps = max(h.env_steps for h in histories)
        grid = np.linspace(0, max_steps, num_points)  # (P,)
        curves = []
        for h in histories:
            steps, smooth = smoothed_curve(h, window)
            curves.append(np.interp(grid, steps, smooth, left=np.nan) if steps.size else np.full_like(grid, np.nan))
        curves = np.array(curves)  # (seeds, P)
        with np.errstate(all="ignore"):
            ok = ~np.all(np.isnan(curves), axis=0)
            mean = np.nanmean(curves[:, ok], axis=0)
            lo, hi = np.nanmin(curves[:, ok], axis=0), np.nanmax(curves[:, ok], axis=0)
        seeds = f"{len(histories)} seed" + ("" if len(histories) == 1 else "s")
        (line,) = ax.plot(grid[ok], mean, label=f"{label} ({seeds})")
        ax.fill_between(grid[ok], lo, hi, color=line.get_color(), alpha=0.2)
    ax.axhline(SOLVED_RETURN, color="gray", ls="--", lw=1, label=f"solved ({SOLVED_RETURN:.0f})")
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"mean return of last {window} episodes")
    ax.set_ylim(0, 510)
    ax.legend(loc="lower right")
    return fig


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


class LivePlot:
    """A learning curve redrawn in a Jupyter cell at most every ``every_s`` seconds; no-op elsewhere.

    A ``pgcourse.cartpole.TrainingCallback``: ``train_reinforce(..., callback=LivePlot())``. The
    last batch (``history.finished``) is always drawn.
    """

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._last = -np.inf
        self._fig = self._handle = None
        self.enabled = _in_jupyter()

    def __call__(self, history: TrainingHistory) -> None:
        if self.enabled and (history.finished or time.perf_counter() - self._last >= self.every_s):
            self._draw(history)

    def _draw(self, history: TrainingHistory) -> None:
        from IPython.display import display

        if self._fig is None:
            self._fig, self._ax = plt.subplots(figsize=(6, 3.5))
            plt.close(self._fig)  # keep pyplot from showing it a second time at the cell's end
        self._ax.clear()
        plot_learning_curves({"training": [history]}, ax=self._ax)
        if self._handle is None:
            self._handle = display(self._fig, display_id=True)
        else:
            self._handle.update(self._fig)
        self._last = time.perf_counter()


def record_frames(policy: CategoricalMLP, seed: int = 0, every: int = 2, max_frames: int = 250,
                  greedy: bool = True) -> tuple[list[np.ndarray], float]:
    """Play one episode in a single rendered CartPole-v1; every ``every``-th RGB frame and R(τ).

    Frames are (400, 600, 3) uint8 arrays, at most ``max_frames`` of them (the episode still
    runs to its end so the return is the true one).
    """
    if every < 1 or max_frames < 1:
        raise ValueError(f"every and max_frames must be ≥ 1, got {every}, {max_frames}")
    # pygame prints a banner on import, and SDL an XDG_RUNTIME_DIR error on stderr where no
    # display is set up; rgb_array frames need no real video or audio device.
    for key, value in (("PYGAME_HIDE_SUPPORT_PROMPT", "1"), ("SDL_VIDEODRIVER", "dummy"), ("SDL_AUDIODRIVER", "dummy")):
        os.environ.setdefault(key, value)
    import gymnasium as gym

    env = gym.make("CartPole-v1", render_mode="rgb_array")
    rng = torch.Generator().manual_seed(seed)
    frames, ret = [], 0.0
    try:
        obs, _ = env.reset(seed=seed)
        for h in range(10_000):
            if h % every == 0 and len(frames) < max_frames:
                frames.append(env.render())
            with torch.no_grad():
                state = torch.as_tensor(obs)
                a = int(policy(state).argmax()) if greedy else int(policy.sample(state, generator=rng))
            obs, r, terminated, truncated, _ = env.step(a)
            ret += float(r)
            if terminated or truncated:
                break
    finally:
        env.close()
    return frames, ret


def animate_frames(frames: Sequence[np.ndarray], fps: float = 25.0, width_px: int = 300,
                   title: str = "") -> "IPython.display.HTML":
    """A JavaScript player (``to_jshtml``, no ffmpeg needed, a bar while frames render) of RGB frames, as ``IPython.display.HTML``.

    250 CartPole frames at 300 px make ~0.4 MB of HTML and take ~2 s.
    """
    from IPython.display import HTML
    from matplotlib import animation

    if len(frames) == 0:
        raise ValueError("no frames to animate")
    if (placeholder := placeholder_while_grading(len(frames))) is not None:
        return HTML(placeholder)
    # Subsample pixels first (nearest neighbour, no blending): few colours keep the PNGs ~1.5 kB.
    step = max(1, frames[0].shape[1] // width_px)
    frames = [f[::step, ::step] for f in frames]
    H, W = frames[0].shape[:2]
    dpi = 72
    fig = plt.figure(figsize=(width_px / dpi, width_px * H / W / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    image = ax.imshow(frames[0], interpolation="nearest")

    def show(i: int) -> tuple:
        image.set_data(frames[i])
        return (image,)

    anim = animation.FuncAnimation(fig, show, frames=len(frames), interval=1000 / fps, blit=True)
    html = to_jshtml(anim, len(frames), desc="rendering frames")
    plt.close(fig)
    # A caption in HTML, not drawn into the frames: text in every frame doubled size and time.
    caption = f"<p style='font-family:sans-serif'>{html_escape(title)}</p>" if title else ""
    return HTML(caption + html)


def animate_policy(policy: CategoricalMLP, seed: int = 0, every: int = 2, max_frames: int = 250,
                   greedy: bool = True) -> "IPython.display.HTML":
    """Record one episode of ``policy`` and return an embeddable animation (real time: 50/every fps)."""
    frames, ret = record_frames(policy, seed, every, max_frames, greedy)
    return animate_frames(frames, fps=50 / every, title=f"{'greedy' if greedy else 'sampled'} policy, return {ret:.0f}")
