"""Run a notebook's autograder test cells directly against wrong (and right) answers.

Autograding a whole notebook per wrong answer would take minutes each; instead the test cells
(hidden tests included) are read from the solution notebook and executed in-process, in a fresh
namespace holding the function under test. Test cells are self-contained by convention: they
import what they use and reference only the exercise's names.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


@dataclass
class Exercise:
    """What one test cell checks, and answers it must reject or accept."""
    test_cell: str                                   # grade_id of the autograder test cell
    function: str                                    # the name the student defines
    wrong: list[Callable]                            # plausible mistakes: each must fail the cell
    correct: list[Callable]                          # other correct implementations: each must pass
    context: dict[str, Any] = field(default_factory=dict)  # other names the cell needs (correct versions)
    # {wrong answer's name: a piece of the hint it must get}. Every other wrong answer of the exercise must not
    # get that hint (tests/test_mutants.py): a hint is shown only for its own mistake.
    hints: dict[str, str] = field(default_factory=dict)


def grader_cell_sources(notebook: str) -> dict[str, str]:
    import nbformat  # here, not at the top: benchmarks/grading.py hands in mutants from a kernel, where
    # importing nbformat (its jsonschema) costs 1.8 s that a real student's wrong answer never pays

    nb = nbformat.read(SOLUTIONS / f"{notebook}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def run_test_cell(source: str, namespace: dict[str, Any]) -> str:
    """Execute a test cell; raises what it raises. Returns what it printed to stderr (must be empty)."""
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        exec(compile(source, "<test cell>", "exec"), dict(namespace))
    return stderr.getvalue()


def stub(*args: Any, **kwargs: Any) -> Any:
    """The released notebook's answer: nbgrader's stub."""
    raise NotImplementedError()
