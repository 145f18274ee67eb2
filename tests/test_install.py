"""The course installed as instructors install it (`pip install .`, not editable), end to end.

A fresh virtual environment gets pgcourse from a wheel built from this working tree (its
dependencies come from this test's environment through a `.pth` line, so nothing is downloaded
and no editable finder is active). From a folder outside the checkout, `pgcourse course init`
must find the instructor's notebooks where the wheel put them (PREFIX/share/pgcourse), and
`pgcourse grade --course` must grade in the sandbox, where those notebooks are out of sight.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

import submissions as S
from pgcourse.grading import sandbox

ROOT = Path(__file__).resolve().parents[1]
NB = "00_mdp_recap"
PEEK = ("import glob, sys\n"
        "found = glob.glob(sys.prefix + '/share/pgcourse/**/*.ipynb', recursive=True)\n"
        "print('PEEK', sys.prefix, found)")


def _tracked_copy(target: Path) -> Path:
    """The working tree's tracked files (what a clone has), without .git and .venv."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, names.decode().split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    source, env = _tracked_copy(base / "source"), base / "env"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
    (site / "_pgcourse_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    done = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.rmtree(source)   # nothing left of the checkout: the installation must stand alone
    return base, env


def _run(env: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(env / "bin" / "pgcourse"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_the_wheel_carries_the_notebooks_outside_the_package(installed):
    base, env = installed
    found = subprocess.run([str(env / "bin" / "python"), "-c", "import pgcourse; from pgcourse.grading import "
                            "locations; print(pgcourse.__file__); print(locations.default_solutions_dir())"],
                           cwd=base, capture_output=True, text=True, check=True).stdout.split()
    assert found[0].startswith(str(env)) and "site-packages" in found[0]   # not the checkout's package
    assert Path(found[1]) == env / "share" / "pgcourse" / "solutions"
    assert (Path(found[1]) / f"{NB}.ipynb").exists()


@pytest.mark.skipif(sandbox.problem() is not None, reason=f"no sandbox here: {sandbox.problem()}")
def test_course_init_and_sandboxed_grading_from_the_installation(installed):
    base, env = installed
    made = _run(env, "course", "init", str(base / "course"), NB, cwd=base)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (base / "course" / "source" / NB / f"{NB}.ipynb").exists()
    inbox = base / "inbox"
    S.write(inbox, "solved", NB, S.solved(NB))
    S.write(inbox, "peeker", NB, S.with_inserted_cell_before(S.blank(NB), S.grade_id(
        next(c for c in S.blank(NB).cells if c.metadata.get("nbgrader", {}).get("solution"))), PEEK))
    graded = _run(env, "grade", "--course", str(base / "course"), str(inbox), "--workers", "1", cwd=base)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "NO SANDBOX" not in graded.stdout
    solved = next(line for line in graded.stdout.splitlines() if line.startswith(f"solved / {NB}:"))
    points, max_points = solved.split(":")[1].split("points")[0].split("/")
    autograded_max = sum(float(c.metadata.nbgrader["points"]) for c in S.read(S.SOLUTIONS / f"{NB}.ipynb").cells
                         if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    assert float(points) == autograded_max, graded.stdout
    nb = nbformat.read(base / "course" / "autograded" / "peeker" / NB / f"{NB}.ipynb", as_version=4)
    peek = next("".join(o.get("text", "") for o in c.outputs) for c in nb.cells if "PEEK" in c.source)
    assert f"PEEK {env} []" in peek, peek   # the installed instructor notebooks are out of the kernel's sight
