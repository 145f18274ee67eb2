"""nbgrader course directories built from `solutions/`: the term's course, and scratch ones.

nbgrader wants `{root}/source/{assignment}/{notebook}.ipynb`; the course keeps one notebook per
assignment, flat in `solutions/`, and the assignment id is the notebook's stem
(`01_importance_weighting`). These helpers stage the sources and configure nbgrader.

`init_course(COURSE_DIR)` makes the course an instructor keeps for the whole term: an
`nbgrader_config.py` with the settings below, `source/`, `release/` and `gradebook.db`, so that
nbgrader's own commands (`nbgrader autograde`, `formgrader`, `export`, `generate_feedback`,
`release_assignment`, `collect`) work in it as nbgrader's documentation says.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import GetGrades
from traitlets.config import Config

from pgcourse.grading import forked_kernels, sandbox
from pgcourse.grading.locations import default_notebooks_dir, default_solutions_dir, project_root  # noqa: F401
from pgcourse.grading.feedback import StripHiddenTests

COURSE_ID = "pgcourse"
DEFAULT_TIMEOUT_S = 120  # per cell, while autograding; training cells are shortened when grading
DEFAULT_SUBMISSION_TIMEOUT_S = sandbox.LIMITS.submission_s   # a whole notebook, in the grading sandbox
# Kernel options while grading: figures are not drawn (IPython shows "<Figure size …>" instead). No
# check reads a figure, the grading budgets make them meaningless, and drawing them took about 1 s
# per notebook; students see every figure in their own notebook.
GRADING_KERNEL_ARGS = ["--InlineBackend.figure_formats=set()"]
# Once the last cell has run, the grading kernel is killed, not asked to shut down: every output is
# already in the notebook, and the polite way (the kernel runs its exit hooks, the client polls
# until it has gone) took 0.7-1.4 s per kernel here, against 0.1 s.
KERNEL_SHUTDOWN = "immediate"


def available(solutions_dir: Path) -> list[str]:
    """Assignment ids: the stems of the solution notebooks, in course order."""
    return sorted(p.stem for p in Path(solutions_dir).glob("*.ipynb"))


def resolve(names: list[str] | None, solutions_dir: Path) -> list[str]:
    """Map `01`, `01_importance_weighting` or `…/01_importance_weighting.ipynb` to assignment ids."""
    known = available(solutions_dir)
    if not names:
        return known
    resolved = []
    for name in names:
        stem = Path(name).stem
        matches = [k for k in known if k == stem or k.split("_", 1)[0] == stem]
        if len(matches) != 1:
            raise SystemExit(f"unknown notebook {name!r}; the course has: {', '.join(known)}")
        resolved.append(matches[0])
    return resolved


def config(root: Path, timeout: int = DEFAULT_TIMEOUT_S, sandboxed: bool | None = None,
           submission_timeout: int = DEFAULT_SUBMISSION_TIMEOUT_S) -> Config:
    """nbgrader settings for a course rooted at `root`: its place and limits, then `grading_settings`."""
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"
    c.Execute.timeout = timeout
    c.SandboxedKernelProvisioner.submission_timeout = submission_timeout
    return grading_settings(c, sandboxed)


def grading_settings(c: Config, sandboxed: bool | None = None) -> Config:
    """The settings grading relies on, in every course: `config()` (pgcourse grade's scratch courses)
    and each course's nbgrader_config.py (nbgrader's own commands) apply these, and only these.

    - figures are not drawn while grading ("<Figure size …>" instead): no check reads them, and the
      short grading runs make them meaningless; students see every figure in their own notebook;
    - once the last cell has run the kernel is killed: its outputs are in the notebook already, and
      a polite shutdown cost about 1 s per submission;
    - every kernel runs in the grading sandbox (`sandbox`: no course files, no network, bounded
      memory, processes and disk, nothing left behind), forked from a server that has imported
      torch, matplotlib and ipykernel once per grading process (`kernel_forkserver`); unless
      `sandboxed` is False, or, when it is None, PGCOURSE_SANDBOX=0;
    - test cells that a student deleted are restored, instead of silently dropping their points;
    - feedback does not show the hidden tests (nbgrader issue 917).
    """
    c.Execute.extra_arguments = list(GRADING_KERNEL_ARGS)
    c.Execute.shutdown_kernel = KERNEL_SHUTDOWN
    c.Autograde.autograde_preprocessors = forked_kernels.autograde_preprocessors(sandboxed)
    c.OverwriteCells.add_missing_cells = True
    c.GenerateFeedback.preprocessors = [GetGrades, StripHiddenTests, CSSHTMLHeaderPreprocessor]
    return c


def quiet_kernels(c: Config, sockets_dir: Path) -> None:
    """Run grading kernels over IPC sockets in a private folder.

    Kernels started at once by parallel graders cannot clash on TCP ports (nbgrader issue 174),
    and ipykernel does not print "Kernel is running over TCP without encryption" into the log.
    """
    c.KernelManager.transport = "ipc"
    c.KernelManager.ip = str(Path(sockets_dir) / "kernel")


CONFIG_FILE = "nbgrader_config.py"
CONFIG_TEMPLATE = '''"""nbgrader settings for this course, written by `pgcourse course init`.

nbgrader's commands read this file when they run in this folder (`nbgrader autograde ASSIGNMENT`,
`nbgrader formgrader`, `nbgrader export`, `nbgrader generate_feedback`); `pgcourse grade --course`
reads it too. Edit the limits here; keep the course id.
"""
import os

from pgcourse.grading.course import grading_settings

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = {course_id!r}
# nbgrader's own per-cell limit in seconds (ExecutePreprocessor.timeout has no effect).
c.Execute.timeout = {timeout}
# Seconds for a whole notebook in the grading sandbox; past them its kernel and everything it
# started are stopped, and the submission is reported as over time.
c.SandboxedKernelProvisioner.submission_timeout = {submission_timeout}
# What grading relies on (pgcourse.grading.course.grading_settings): figures not drawn, kernels
# killed once done, every kernel in the grading sandbox (PGCOURSE_SANDBOX=0 in the environment
# grades without one, each submission then running with your rights), deleted test cells restored,
# feedback without the hidden tests.
grading_settings(c)
'''


def write_config_file(root: Path, timeout: int = DEFAULT_TIMEOUT_S) -> Path:
    path = Path(root) / CONFIG_FILE
    path.write_text(CONFIG_TEMPLATE.format(course_id=COURSE_ID, timeout=int(timeout),
                                            submission_timeout=DEFAULT_SUBMISSION_TIMEOUT_S))
    return path


def read_config_file(root: Path, need_gradebook: bool = True) -> Config:
    """The settings of an existing course folder; a clear SystemExit when it is not one of ours."""
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"no course directory {root}: make one with `pgcourse course init {root}`")
    try:
        loaded = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    except ConfigFileNotFound:
        raise SystemExit(f"{root} is not an nbgrader course (no {CONFIG_FILE}): "
                         f"make one with `pgcourse course init {root}`") from None
    course_id = loaded.CourseDirectory.get("course_id", "")
    if course_id != COURSE_ID:
        raise SystemExit(f"{root} was made for another course (course id {course_id!r}, "
                         f"this is {COURSE_ID!r}): grading it would mix two courses' gradebooks")
    if need_gradebook and not (root / "gradebook.db").exists():
        raise SystemExit(f"{root} has no gradebook.db: run `pgcourse course init {root}` to finish it")
    return loaded


def course_timeout(root: Path) -> int:
    return int(read_config_file(root).Execute.get("timeout", DEFAULT_TIMEOUT_S))


def course_submission_timeout(root: Path) -> int:
    return int(read_config_file(root).SandboxedKernelProvisioner.get("submission_timeout",
                                                                     DEFAULT_SUBMISSION_TIMEOUT_S))


def course_assignments(root: Path) -> list[str]:
    """The assignments recorded in a course's gradebook, in course order."""
    with Gradebook(config(root).CourseDirectory.db_url, COURSE_ID) as gb:
        return sorted(a.name for a in gb.assignments)


def init_course(root: Path, solutions_dir: Path | None = None, names: list[str] | None = None,
                timeout: int = DEFAULT_TIMEOUT_S) -> list[str]:
    """Make (or extend) the term's course at `root`; returns the assignments it added.

    An assignment already in the course is left exactly as it is (its source, release and every
    grade), so running this again after adding a notebook to solutions/ only adds that one.
    """
    root = Path(root)
    solutions_dir = Path(solutions_dir or default_solutions_dir())
    if not solutions_dir.is_dir() or not available(solutions_dir):
        raise SystemExit(f"{solutions_dir} holds no solution notebooks (NN_topic.ipynb)")
    wanted = available(solutions_dir) if names is None else (resolve(names, solutions_dir) if names else [])
    if (root / CONFIG_FILE).exists():
        read_config_file(root, need_gradebook=False)
        existing = set(course_assignments(root)) if (root / "gradebook.db").exists() else set()
    elif root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} exists and is not an nbgrader course: choose an empty or new folder")
    else:
        root.mkdir(parents=True, exist_ok=True)
        write_config_file(root, timeout)
        existing = set()
    added = [a for a in wanted if a not in existing]
    stage_sources(root, solutions_dir, added)
    api = make_api(root, int(read_config_file(root, need_gradebook=False).Execute.get("timeout", timeout)))
    for assignment in added:
        generate(api, assignment)
    with Gradebook(config(root).CourseDirectory.db_url, COURSE_ID):  # creates an empty one if none yet
        pass
    for step in ("submitted", "autograded", "feedback"):
        (root / step).mkdir(exist_ok=True)
    return added


def quiet_gradebook_warnings() -> None:
    """nbgrader's gradebook makes SQLAlchemy warn ("Object of type … not in session"): not for readers."""
    import warnings

    warnings.filterwarnings("ignore", message="Object of type")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="nbgrader")


def _ensure_tools_on_path() -> None:
    """nbgrader runs `alembic` and kernels by name: find them next to this Python, venv or not."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def make_api(root: Path, timeout: int = DEFAULT_TIMEOUT_S) -> NbGraderAPI:
    return api_from_config(config(root, timeout))


def api_from_config(cfg: Config) -> NbGraderAPI:
    _ensure_tools_on_path()
    quiet_gradebook_warnings()
    db_url = cfg.CourseDirectory.get("db_url", "")
    db_path = Path(str(db_url).removeprefix("sqlite:///"))
    if str(db_url).startswith("sqlite:///") and db_path.parent.is_dir() and not db_path.exists():
        new_gradebook(db_path)   # else nbgrader makes it, slowly, when it first opens the gradebook
    return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def new_gradebook(db_path: Path) -> None:
    """An empty nbgrader gradebook (SQLite) at `db_path`: nbgrader's tables and its alembic version.

    The same database nbgrader's `Gradebook(db_url)` makes for a missing file, without the
    `alembic heads` subprocess it runs to learn the schema version (3-4 s each time here; grading
    makes a scratch course per assignment and worker). The version comes from nbgrader's own
    migration scripts, in this process.
    """
    import nbgrader
    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from sqlalchemy import create_engine, text

    head = ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()
    engine = create_engine(f"sqlite:///{Path(db_path).resolve()}", future=True)
    try:
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head})
    finally:
        engine.dispose()


def stage_sources(root: Path, solutions_dir: Path, assignments: list[str]) -> None:
    """Copy solutions/{a}.ipynb to {root}/source/{a}/{a}.ipynb for each assignment a."""
    for assignment in assignments:
        target = Path(root) / "source" / assignment
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(solutions_dir) / f"{assignment}.ipynb", target / f"{assignment}.ipynb")


def generate(api: NbGraderAPI, assignment: str) -> None:
    """Run nbgrader's generate_assignment (which also records the cells in the gradebook)."""
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment failed for {assignment}:\n"
                           f"{result.get('error') or result.get('log')}")
