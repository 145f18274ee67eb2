"""The project's own consistency: pinned environments agree, student notebooks are current."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import nbformat
import pytest

from pgcourse.grading import release

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [d for group in project["optional-dependencies"].values() for d in group]
    return dict(re.match(r"([A-Za-z0-9_.-]+)==([^;\s]+)", s).groups() for s in specs)


def _environment_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = re.match(r"\s*-\s*([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def test_environment_yml_matches_pyproject():
    assert _environment_pins() == _pyproject_pins()


def test_every_dependency_is_pinned_and_torch_is_the_cpu_pin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        assert "==" in spec, f"unpinned dependency {spec}"
    assert _pyproject_pins()["torch"] == "2.13.0"


def _normalized(path: Path) -> dict:
    nb = json.loads(path.read_text())
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def test_student_notebooks_are_current(tmp_path):
    """notebooks/ must be exactly what `pgcourse release` produces from solutions/."""
    written = release.release(notebooks_dir=tmp_path)
    committed = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert committed == sorted(p.name for p in written), "run `pgcourse release`: notebooks/ lacks or has extra files"
    for path in written:
        assert _normalized(path) == _normalized(ROOT / "notebooks" / path.name), \
            f"notebooks/{path.name} is stale: run `pgcourse release`"


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_notebooks_are_kept_without_outputs(folder):
    for path in sorted((ROOT / folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        with_outputs = [i for i, c in enumerate(nb.cells) if c.get("outputs")]
        assert not with_outputs, f"{path.name} has stored outputs in cells {with_outputs}"


def test_student_notebooks_hold_no_solutions_or_hidden_tests():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = path.read_text()
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Mark scheme"):
            assert marker not in text, f"{path.name} contains {marker!r}"


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_text_form_round_trips(path):
    """tools/nbsrc.py (the plain-text editing route) loses no source and no nbgrader metadata."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import nbsrc

    nb = nbformat.read(path, as_version=4)
    again = nbsrc.text_to_notebook(nbsrc.notebook_to_text(nb))
    assert [(c.cell_type, c.source, c.metadata.get("nbgrader"), c.metadata.get("tags")) for c in again.cells] == \
        [(c.cell_type, c.source, c.metadata.get("nbgrader"), c.metadata.get("tags")) for c in nb.cells]


def _make_recipe(target: str) -> list[str]:
    """The commands of a Makefile target: the tab-indented lines right after `target:`."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:")) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("\t")), len(lines))
    return [line.strip() for line in lines[start:end]]


def test_make_test_is_the_readme_test_command():
    """The README shows the exact command `make test` runs, and CI runs `make test-full`, which starts with it."""
    recipe = _make_recipe("test")
    assert len(recipe) == 1 and recipe[0].startswith("$(BIN)/pytest "), recipe
    command = recipe[0].replace("$(BIN)/", ".venv/bin/")
    tests_section = (ROOT / "README.md").read_text().split("## Tests", 1)[1]
    assert f"\n{command}\n" in tests_section, f"README's Tests section should show `{command}`"
    assert "make test-full" in (ROOT / ".ci" / "run").read_text() and _make_recipe("test-full")
    # every notebook nbval runs exists
    for arg in command.split():
        if arg.endswith(".ipynb"):
            assert (ROOT / arg).exists(), arg


def test_work_units_keep_what_must_run_together_on_one_worker():
    """`make test`'s two workers: a notebook's cells, a module's plain tests, one parameter's tests."""
    from conftest import work_unit

    assert work_unit("solutions/04_reward_to_go.ipynb::Cell 0") == work_unit("solutions/04_reward_to_go.ipynb::Cell 9")
    assert work_unit("tests/test_grading.py::test_a[01_importance_weighting]") == \
        work_unit("tests/test_grading.py::test_b[01_importance_weighting]") != \
        work_unit("tests/test_grading.py::test_a[02_softmax_policies]")
    assert work_unit("tests/test_grading.py::test_infinite_loop_is_interrupted") == \
        work_unit("tests/test_grading.py::test_check_command_reports_and_exits_nonzero") != \
        work_unit("tests/test_mdp.py::test_two_state_hand_values")
    assert work_unit("tests/test_x.py::test_y[a[1]]") == "tests/test_x.py[a[1]]"


def _excluded_requirements() -> list[str]:
    lines = (ROOT / "excluded-requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_make_setup_leaves_out_the_excluded_requirements():
    """rfc3987-syntax costs every process that imports nbformat 2.2-2.5 s (excluded-requirements.txt):
    `make setup` leaves it out whichever installer ran, and so do the hub's setup_class.py and the
    Kubernetes image."""
    import importlib.metadata
    import subprocess
    import sys

    assert _excluded_requirements() == ["rfc3987-syntax"]
    setup = "\n".join(_make_recipe("$(STAMP)"))
    assert "--excludes excluded-requirements.txt" in setup
    assert "uninstall -qq --yes -r excluded-requirements.txt" in setup
    assert '"excluded-requirements.txt"' in (ROOT / "deploy" / "jupyterhub" / "setup_class.py").read_text()
    assert "uninstall -qq --yes -r /src/excluded-requirements.txt" in \
        (ROOT / "deploy" / "kubernetes" / "Dockerfile").read_text()
    if not (Path(sys.prefix) == ROOT / ".venv" and (ROOT / ".venv" / ".installed").exists()):
        pytest.skip("this Python's environment was not built by `make setup`")
    for name in _excluded_requirements():
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.version(name)
    loaded = subprocess.run([sys.executable, "-c", "import sys, nbgrader.apps, nbformat.validator; "
                             "print(sorted(m for m in sys.modules if m.startswith(('rfc3987', 'lark'))))"],
                            capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_every_module_marked_full_runs_in_make_test_full():
    """`make test` leaves out the tests marked `full`; CI's `make test-full` must name each of their files."""
    root = Path(__file__).resolve().parents[1]
    full_line = next(line for line in (root / "Makefile").read_text().splitlines()
                     if line.startswith("\t") and "pytest" in line and "05_cartpole" in line)
    marked = {f"tests/{p.name}" for p in (root / "tests").glob("test_*.py")
              if re.search(r"pytest\.mark\.full\b", p.read_text())}
    assert marked and all(name in full_line.split() for name in marked), (marked, full_line)
