"""Feedback that does not reveal the hidden tests.

nbgrader restores the full test cells (hidden tests included) before autograding, and its
feedback HTML shows them, along with tracebacks that quote the failing hidden line (nbgrader
issue 917). `StripHiddenTests` removes every `### BEGIN HIDDEN TESTS … ### END HIDDEN TESTS`
region from the feedback copy and replaces the traceback of such a cell by the error's message alone,
which the course writes for students to read.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests


class StripHiddenTests(ClearHiddenTests):
    """ClearHiddenTests for feedback: also hides the tracebacks of cells that had hidden tests."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int):
        if cell.cell_type == "code" and self._remove_hidden_test_region(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    message = output.evalue.strip() or "a hidden test failed"
                    output.traceback = [f"{output.ename}: {message}"]
        return cell, resources
