"""Author nbgrader notebooks as plain text, and turn them back into text to edit.

The `.ipynb` files in `solutions/` are the source of truth (instructors may edit them in
JupyterLab with nbgrader's "Create Assignment" toolbar). This tool is a convenience for editing
them in a text editor and reviewing them in diffs:

    python tools/nbsrc.py to-text solutions/01_importance_weighting.ipynb > /tmp/nb01.txt
    python tools/nbsrc.py to-nb /tmp/nb01.txt solutions/01_importance_weighting.ipynb

Text format: each cell starts with a marker line, and its source follows verbatim.

    #%% markdown                       a plain markdown cell
    #%% code                           a plain code cell
    #%% solution id=NAME               autograded answer (nbgrader: solution)
    #%% tests id=NAME points=P         autograder tests (nbgrader: grade + locked)
    #%% manual id=NAME points=P        manually graded written answer (markdown, grade + solution)
    #%% readonly-markdown id=NAME      locked markdown cell (e.g. a question text)

Tags for other tools (e.g. nbval's `nbval-skip`) follow as `tags=a,b`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

MARKER = "#%%"


def _nbgrader(kind: str, opts: dict[str, str]) -> dict | None:
    base = {"schema_version": 3, "grade_id": opts.get("id")}
    if kind == "solution":
        return {**base, "solution": True, "grade": False, "locked": False}
    if kind == "tests":
        return {**base, "solution": False, "grade": True, "locked": True, "points": float(opts["points"])}
    if kind == "manual":
        return {**base, "solution": True, "grade": True, "locked": False, "points": float(opts["points"])}
    if kind == "readonly-markdown":
        return {**base, "solution": False, "grade": False, "locked": True}
    return None


def text_to_notebook(text: str) -> nbformat.NotebookNode:
    """Parse the text format into an nbformat v4 notebook with nbgrader metadata."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(MARKER):
            blocks.append((line[len(MARKER):].strip(), []))
        elif blocks:
            blocks[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"text before the first {MARKER} marker: {line!r}")
    for header, lines in blocks:
        kind, *rest = header.split()
        opts = dict(item.split("=", 1) for item in rest)
        source = "\n".join(lines).strip("\n")
        is_markdown = kind in ("markdown", "manual", "readonly-markdown")
        cell = nbformat.v4.new_markdown_cell(source) if is_markdown else nbformat.v4.new_code_cell(source)
        meta = _nbgrader(kind, opts)
        if kind not in ("markdown", "code") and meta is None:
            raise ValueError(f"unknown cell kind {kind!r}")
        if meta is not None:
            if meta["grade_id"] is None:
                raise ValueError(f"a {kind} cell needs id=NAME")
            cell.metadata["nbgrader"] = meta
        if "tags" in opts:
            cell.metadata["tags"] = opts["tags"].split(",")
        # stable ids keep the diffs of regenerated notebooks small
        cell["id"] = (meta["grade_id"] if meta else f"cell-{len(nb.cells)}").replace("_", "-")
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def notebook_to_text(nb: nbformat.NotebookNode) -> str:
    """The inverse of `text_to_notebook` (outputs are dropped)."""
    parts = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("solution"):
            header = f"manual id={meta['grade_id']} points={meta['points']:g}"
        elif meta.get("grade"):
            header = f"tests id={meta['grade_id']} points={meta['points']:g}"
        elif meta.get("solution"):
            header = f"solution id={meta['grade_id']}"
        elif meta.get("locked") and cell.cell_type == "markdown":
            header = f"readonly-markdown id={meta['grade_id']}"
        else:
            header = cell.cell_type
        if cell.metadata.get("tags"):
            header += " tags=" + ",".join(cell.metadata["tags"])
        parts.append(f"{MARKER} {header}\n{cell.source}\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    to_nb = sub.add_parser("to-nb", help="text file -> .ipynb")
    to_nb.add_argument("text")
    to_nb.add_argument("notebook")
    to_text = sub.add_parser("to-text", help=".ipynb -> text on stdout")
    to_text.add_argument("notebook")
    args = parser.parse_args(argv)
    if args.command == "to-nb":
        nb = text_to_notebook(Path(args.text).read_text())
        nbformat.write(nb, args.notebook)
    else:
        sys.stdout.write(notebook_to_text(nbformat.read(args.notebook, as_version=4)))


if __name__ == "__main__":
    main()
