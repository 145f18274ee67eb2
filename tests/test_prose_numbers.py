"""Every number a notebook's prose states is true on the student's own run, or cites where it comes from.

Notebooks are committed without outputs, so a number written in markdown is checked by nothing else. The
convention (docs/authoring.md, "Numbers in the prose"): a number in a markdown cell, outside formulas ($…$)
and code (`…`), is one of

- a constant of the notebook's own code: it appears as a literal in one of its code cells (a budget, a step
  size, a seed, a threshold) and needs no mark;
- structural: a section, exercise, notebook or seed number, points, a citation's year or volume;
- followed by a mark, an HTML comment that the rendered notebook does not show:
  - ``<!--=FILE/KEY/…-->``: a value recorded in ``benchmarks/results/FILE.json`` at that key path (list
    indices are numbers), equal to it at the digits written (``79k`` is 79,000 to the nearest thousand);
  - ``<!--=code:module:Name.attr-->``: a constant of the library (a module constant or a dataclass
    field's default, e.g. ``code:pgcourse.llm.rl:RLConfig.steps``), equal to it;
  - ``<!--=lecture-->``: a number of the lecture's slides (its TL;DR table, its data set sizes);
  - ``<!--=cite-->``: a number quoted from the source the same sentence names (a paper, a library's
    documentation), checked by whoever reads that source.

Anything else, in particular a value that one run measured, must not be written in the prose: the prose
says what the cell prints and what range to expect, and quotes that range from a record. Counts written as
words ("two of five seeds") are refused for the same reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
from pathlib import Path

import nbformat
import pytest

from pgcourse.llm.evaluate import LECTURE_WIN_RATES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

# The lecture's numbers beyond its win rates: the table's ± intervals, the model sizes, the data set sizes.
LECTURE_NUMBERS = set(LECTURE_WIN_RATES.values()) | {2.49, 2.01, 1.74, 6.9e9, 7e9, 210_000, 117_000, 93_000}

NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)([kKB](?![A-Za-z]))?")
MARK = re.compile(r"[%×*\\‡°\ss]{0,4}<!--=(.*?)-->")  # after a unit: 1.4 s<!--…-->
STRUCTURAL = re.compile(  # numbers that name things: blanked before the numbers are read
    r"^#+ *\d+\.|^ *\d+\. |\(\d+ points?[,)]|\d+ points\b"
    r"|(?:\b(?:[Ss]ections?|Exercises?|[Nn]otebooks?|[Ss]eeds?|[Ll]ecture|eq\.|JMLR|[Gg]ymnasium(?:'s)?|v)|§)"
    r" ?\d+(?:\.\d+)*(?:\(\d+\))?(?: ?(?:,|and|or|-|–|to) ?\d+(?:\.\d+)*)*", re.M)
YEAR = re.compile(r"^(19[5-9]\d|20[0-3]\d)$")
WORD_COUNTS = re.compile(r"\b(?:one|two|three|four|five|all five|all three)\s+of\s+(?:five|three|the five|"
                         r"the three)\b|\bhundredfold\b|\btwentyfold\b",
                         re.IGNORECASE)


def _prose(md: str) -> str:
    """Markdown without formulas, code and link targets (the marks stay: they belong to the prose)."""
    md = re.sub(r"```.*?```", " ", md, flags=re.S)
    md = re.sub(r"\$\$.*?\$\$", " ", md, flags=re.S)
    md = re.sub(r"\$[^$]*\$", " ", md)
    md = re.sub(r"`[^`]*`", " ", md)
    md = re.sub(r"\]\([^)]*\)", "]", md)
    return STRUCTURAL.sub(lambda m: " " * len(m.group()), md)


def _code_constants(nb) -> set[float]:
    out = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            for m in re.finditer(r"(?<![\w.])\d[\d_]*(?:\.\d+)?(?:e-?\d+)?", cell.source):
                out.add(float(m.group().replace("_", "")))
    return out


def _value(text: str, suffix: str | None) -> tuple[float, float]:
    """The number as written and the rounding step it was written with (79k: 79,000 and 1,000)."""
    digits = text.replace(",", "")
    step = 10.0 ** -len(digits.split(".")[1]) if "." in digits else 1.0
    scale = {"k": 1e3, "K": 1e3, "B": 1e9}.get(suffix or "", 1.0)
    return float(digits) * scale, step * scale


def _record(path: str):
    file, *keys = path.split("/")
    record = json.loads((RESULTS / f"{file}.json").read_text())
    for key in keys:
        record = record[int(key)] if isinstance(record, list) else record[key]
    return record


def _code_constant(dotted: str):
    module_name, _, rest = dotted.partition(":")
    parts = rest.split(".")
    obj = importlib.import_module(module_name)
    for i, part in enumerate(parts):
        if dataclasses.is_dataclass(obj) and isinstance(obj, type) and i == len(parts) - 1:
            return next(f.default for f in dataclasses.fields(obj) if f.name == part)
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)   # a default: f.__defaults__.0
    return obj


def _close(written: float, step: float, actual) -> bool:
    return isinstance(actual, (int, float)) and abs(written - actual) <= step / 2 + 1e-9 * max(1, abs(actual))


def check_number(text: str, suffix: str | None, mark: str | None, constants: set[float]) -> str | None:
    """None when the number is allowed, else what is wrong with it."""
    value, step = _value(text, suffix)
    if mark is None:
        if value in constants or (suffix and value in constants):
            return None
        if YEAR.match(text):
            return None
        return "neither a constant of the notebook's code nor marked with its source"
    if mark == "lecture":
        return None if any(_close(value, step, x) for x in LECTURE_NUMBERS) else "not a number of the lecture"
    if mark == "cite":
        return None
    if mark.startswith("code:"):
        actual = _code_constant(mark[5:].replace(" ", ""))
        return None if _close(value, step, actual) else f"the code's value is {actual!r}"
    try:
        actual = _record(mark)
    except (KeyError, IndexError, FileNotFoundError, ValueError) as err:
        return f"no such record: {err!r}"
    return None if _close(value, step, actual) else f"the record says {actual!r}"


def prose_numbers(nb):
    """(cell index, number as written, suffix, mark or None, text before it) for every number in the prose."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        prose = _prose(cell.source)
        without_marks = re.sub(r"<!--.*?-->", lambda m: " " * len(m.group()), prose, flags=re.S)
        for m in NUMBER.finditer(without_marks):
            mark = MARK.match(prose, m.end())
            yield index, m.group(1), m.group(2), mark.group(1).strip() if mark else None, \
                without_marks[max(0, m.start() - 40):m.start()]


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_number_in_the_prose_is_computed_or_recorded(path):
    nb = nbformat.read(path, as_version=4)
    constants = _code_constants(nb)
    wrong = []
    for index, text, suffix, mark, before in prose_numbers(nb):
        problem = check_number(text, suffix, mark, constants)
        if problem:
            wrong.append(f"cell {index}: {text}{suffix or ''} ({problem}) after …{before.strip()[-40:]}")
    assert not wrong, f"{path.name}: numbers in the prose that nothing checks:\n" + "\n".join(wrong)


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_no_count_of_one_run_is_written_in_words(path):
    nb = nbformat.read(path, as_version=4)
    found = [(i, m.group()) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
             for m in WORD_COUNTS.finditer(_prose(c.source))]
    assert not found, f"{path.name}: counts written in words, which no record checks: {found}"


def test_the_checker_refuses_a_stale_quote_and_an_unmarked_measurement():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("steps = 100_000\nlr = 3e-2"),
        nbformat.v4.new_markdown_cell("Within 100,000 steps at rate 0.03 (section 8, Sutton & Barto 2018), "
                                      "the lecture's REBEL row 78.1<!--=lecture--> and 77.0<!--=lecture-->; "
                                      "an unmarked 474 and a marked 3<!--=code:pgcourse.cartpole:CartPoleConfig.seed-->."),
    ])
    problems = {text: check_number(text, suffix, mark, _code_constants(nb)) for _, text, suffix, mark, _ in prose_numbers(nb)}
    assert "8" not in problems      # a section number names a section
    assert problems["100,000"] is None and problems["0.03"] is None
    assert problems["2018"] is None and problems["78.1"] is None
    assert problems["77.0"] == "not a number of the lecture"
    assert "nor marked" in problems["474"]
    assert problems["3"] == "the code's value is 0"


def test_a_quote_that_the_record_contradicts_fails():
    key = "llm_lab/win_rate/REINFORCE"
    recorded = _record(key)
    assert check_number(f"{recorded:.1f}", None, key, set()) is None
    assert check_number(f"{recorded + 1:.1f}", None, key, set()) == f"the record says {recorded!r}"
    steps = _record("cartpole/median_steps")               # 79k: to the nearest thousand
    assert check_number(f"{round(steps / 1000)}", "k", "cartpole/median_steps", set()) is None
    assert check_number(f"{round(steps / 1000) + 2}", "k", "cartpole/median_steps", set()) is not None
    assert "no such record" in check_number("1", None, "llm_lab/no_such_key", set())


def test_records_are_the_benchmarks_own_output():
    """Each record names the benchmark that writes it, and that benchmark has the --record flag."""
    for record in sorted(RESULTS.glob("*.json")):
        script = ROOT / "benchmarks" / f"{record.stem}.py"
        assert script.exists(), f"{record.name}: no benchmarks/{record.stem}.py writes it"
        assert "--record" in script.read_text(), f"benchmarks/{record.stem}.py has no --record flag"
        assert "machine" in json.loads(record.read_text()), \
            f"{record.name} does not say which machine it was measured on"
        assert not any(isinstance(v, float) and math.isnan(v) for v in json.loads(record.read_text()).values())
