"""Animations in a notebook: matplotlib's JavaScript player, with a progress bar while frames render.

`Animation.to_jshtml()` draws every frame to a PNG before anything shows, silently (31 bars of
notebook 01 or 250 CartPole frames of notebook 05 take seconds). `to_jshtml(anim, n_frames, desc)`
makes the same HTML through the same `HTMLWriter`, and reports each rendered frame to a
`pgcourse.progress` bar. No ffmpeg is needed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from matplotlib import animation

from pgcourse.progress import progress_bar


def to_jshtml(anim: animation.Animation, n_frames: int, desc: str | None = "rendering frames",
              fps: float | None = None, default_mode: str = "once") -> str:
    """The HTML of `anim`'s JavaScript player (frames embedded), rendering under a bar labelled `desc`."""
    fps = fps if fps is not None else 1000 / getattr(anim, "_interval", 200)
    with progress_bar(n_frames, desc, unit="frame") as bar, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "animation.html")
        writer = animation.HTMLWriter(fps=fps, embed_frames=True, default_mode=default_mode)
        anim.save(str(path), writer=writer, progress_callback=lambda i, n: bar.update())
        return path.read_text()
