"""The package's shape: no import cycle, no file over 400 lines, teaching code apart from grading.

The import graph is read from the source with `ast` (every `import` and `from … import`, inside
functions too: a lazy import that closes a cycle is still a cycle), and its cycles are found by
the standard library's `graphlib`. Both helpers are tested on planted packages first, so a clean
result on `pgcourse` means something.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pgcourse"
MAX_LINES = 400
# Only these may import the grading code and the command line; everything else teaches.
GRADING_SIDE = ("pgcourse.grading", "pgcourse.cli")


def _module_name(path: Path, package_dir: Path) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, module: str, modules: set[str]) -> set[str]:
    """The package's modules that `module` (the file at `path`) imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..core import y`
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import name` imports the module pkg.name when there is one, else pkg itself
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import pkg.mod.attr` → the longest module prefix
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """{module: the modules of the same package it imports}, for every .py file under package_dir."""
    paths = {_module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}
    return {m: _imported_modules(p, m, set(paths)) for m, p in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle [a, b, …, a] of the graph, or None when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        return list(err.args[1])
    return None


# ---- the helpers catch what they should -------------------------------------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return tmp_path / "pkg"


@pytest.mark.parametrize("files", [
    {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "import pkg.a\n"},
    {"__init__.py": "", "a.py": "from pkg.b import f\n", "b.py": "def f():\n    from pkg.c import g\n",
     "c.py": "from . import a\n"},                                           # lazy and relative imports
    {"__init__.py": "", "sub/__init__.py": "from .x import y\n", "sub/x.py": "from ..a import z\n",
     "a.py": "from pkg.sub import x\n"},
])
def test_a_planted_cycle_is_found(tmp_path, files):
    cycle = find_cycle(import_graph(_package(tmp_path, files)))
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) >= 3


def test_a_package_without_cycles_passes(tmp_path):
    pkg = _package(tmp_path, {"__init__.py": "", "a.py": "import numpy\nfrom pkg import b\n",
                              "b.py": "from pkg.c import f\n", "c.py": "import os\n"})
    graph = import_graph(pkg)
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()}
    assert find_cycle(graph) is None


# ---- pgcourse ----------------------------------------------------------------------------------

def test_pgcourse_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    # the graph is read
    assert "pgcourse.tabular.mdp" in graph and "pgcourse.tabular.policies" in graph["pgcourse.tabular.mdp"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_no_python_file_is_over_400_lines():
    """The package, its tests, the benchmarks, the tools and the deployment scripts."""
    folders = ("pgcourse", "tests", "benchmarks", "tools", "deploy")
    files = [p for folder in folders for p in (ROOT / folder).rglob("*.py")]
    assert PACKAGE / "tabular" / "mdp.py" in files and ROOT / "tests" / "test_hub.py" in files
    long = {str(p.relative_to(ROOT)): n for p in sorted(files) if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these into modules of one idea each (≤ {MAX_LINES} lines): {long}"


def test_teaching_modules_never_import_grading_or_the_cli():
    graph = import_graph(PACKAGE)
    grading_side = lambda m: any(m == g or m.startswith(g + ".") for g in GRADING_SIDE)
    offenders = {m: sorted(filter(grading_side, deps)) for m, deps in graph.items()
                 if not grading_side(m) and any(map(grading_side, deps))}
    assert not offenders, f"teaching modules import the grading code or the CLI: {offenders}"


def test_the_top_level_shows_the_parts():
    """pgcourse/ holds one package per part and the command line; README's Layout names each of them."""
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    parts = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert modules == ["__init__.py", "cli.py"], f"a flat module at the top level: put it in its part's package {modules}"
    assert parts == ["cartpole", "checks", "grading", "llm", "notebook", "tabular"]
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("```")[1]
    assert all(f"\n  {part}/ " in layout for part in parts), "README's Layout should draw every part"
    assert [p.relative_to(PACKAGE).as_posix() for p in sorted(PACKAGE.rglob("*plot*.py"))] == \
        ["cartpole/plots.py", "llm/plots.py", "tabular/plots.py"], "each part draws in its own plots.py"
