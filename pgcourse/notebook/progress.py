"""Progress bars for the course's training loops (notebook 05's comparisons, notebook 06's stages).

`progress_bar(total, desc)` is a `tqdm.auto` bar: a widget in JupyterLab, plain text on *stdout*
elsewhere and while nbgrader grades (`NBGRADER_EXECUTION` set: text, not widget state, in the
graded notebook; a graded cell that writes to stderr scores 0). desc=None, the default of every
training function, is tqdm's own disabled bar: it shows nothing and its methods do nothing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from pgcourse.notebook.grading_mode import is_grading

if TYPE_CHECKING:
    from tqdm import tqdm


def progress_bar(total: int, desc: str | None, unit: str = "step", unit_scale: bool = False) -> tqdm:
    """A tqdm bar of `total` units labelled `desc` (a context manager, or call `.close()`);
    desc=None: `tqdm(disable=True)`, silent (its `.n` stays 0)."""
    if desc is None or is_grading():
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale, file=sys.stdout, mininterval=0.5,
                dynamic_ncols=True, disable=desc is None)
