"""Set up one server for a pgcourse class: environment, Jupyter config, exchange, term course.

    sudo python deploy/jupyterhub/setup_class.py --instructor alice --students bob carol dave
    sudo jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

Run it as root, with the Python of the single-user environment (the one whose
`jupyterhub-singleuser` the hub starts), after creating the Unix accounts (`useradd -m NAME`).
It is idempotent: run it again to add students.

1. installs the course package with its pinned dependencies and the `hub` and `grading` extras into that
   environment (the grading extra brings bubblewrap, the sandbox every grading kernel runs in), less
   what excluded-requirements.txt names (`--no-install` skips this, e.g. in a development
   checkout). The instructor's notebooks, which the wheel puts in PREFIX/share/pgcourse/solutions,
   become the instructor's alone (mode 0700): every student's server runs from this environment;
2. copies `config/` to the system-wide Jupyter config directory (`--config-dir`, /etc/jupyter)
   and writes `pgcourse_class.json` there: nbgrader's settings, the lab settings for a class (no
   "Would you like to get notified about official Jupyter news?" prompt), and one directory per
   role with the nbgrader extensions that role gets;
3. creates the exchange (`--exchange`, /srv/nbgrader/exchange) world-writable with the sticky bit,
   as nbgrader's documentation asks ("readable and writable by all users");
4. creates the instructor's course for the term (`--course-dir`, ~INSTRUCTOR/pgcourse) with
   `pgcourse course init`, as the instructor, and checks, as the instructor, that a grading
   sandbox can be made (user namespaces); without one, `pgcourse grade` refuses to grade.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
COURSE_ID = "pgcourse"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instructor", required=True, help="Unix user who runs the course")
    p.add_argument("--students", nargs="+", required=True, help="Unix users who take it")
    p.add_argument("--config-dir", type=Path, default=Path("/etc/jupyter"))
    p.add_argument("--exchange", type=Path, default=Path("/srv/nbgrader/exchange"))
    p.add_argument("--course-dir", type=Path, help="default: ~INSTRUCTOR/pgcourse")
    p.add_argument("--python", default=sys.executable, help="Python of the single-user environment")
    p.add_argument("--no-install", action="store_true", help="the environment already has pgcourse")
    return p.parse_args(argv)


def account(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise SystemExit(f"no Unix user {name!r}: create it first (useradd -m {name})") from None


def as_user(user: pwd.struct_passwd, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Run `cmd` as `user` (its uid, gid and home), failing loudly with its output."""
    full_env = {**os.environ, **env, "HOME": user.pw_dir, "USER": user.pw_name}
    demote = {} if os.geteuid() == user.pw_uid else {"user": user.pw_uid, "group": user.pw_gid,
                                                     "extra_groups": []}
    done = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, **demote)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} (as {user.pw_name}) failed:\n{done.stdout}{done.stderr}")


def install(python: str) -> None:
    """pgcourse and its pins; then out with what excluded-requirements.txt names (rfc3987-syntax:
    2.2-2.5 s more for every student's server start and every nbgrader command)."""
    subprocess.run([python, "-m", "pip", "install", "--quiet", f"{PROJECT}[hub,grading]"], check=True)
    subprocess.run([python, "-m", "pip", "uninstall", "-qq", "--yes", "-r",
                    str(PROJECT / "excluded-requirements.txt")], check=True)


def keep_solutions_to(instructor: pwd.struct_passwd, python: str) -> None:
    """The installed instructor notebooks (hidden tests, model answers): readable by the instructor only."""
    where = subprocess.run([python, "-c", "from pgcourse.grading import locations; "
                            "print(locations.default_solutions_dir())"], capture_output=True, text=True, check=True)
    solutions = Path(where.stdout.strip())
    if solutions.is_dir() and solutions.parent.name == "pgcourse" and solutions.parent.parent.name == "share":
        for path in [solutions, *solutions.rglob("*")]:
            os.chown(path, instructor.pw_uid, instructor.pw_gid, follow_symlinks=False)
        solutions.chmod(0o700)


def check_sandbox(instructor: pwd.struct_passwd, python: str) -> None:
    """Warn when the instructor's grading kernels cannot be sandboxed here (`pgcourse grade` would refuse)."""
    done = subprocess.run([python, "-c", "from pgcourse.grading import sandbox; print(sandbox.problem() or '')"],
                          capture_output=True, text=True, user=instructor.pw_uid, group=instructor.pw_gid,
                          extra_groups=[], cwd="/", env={**os.environ, "HOME": instructor.pw_dir})
    problem = done.stdout.strip() or (done.stderr.strip()[-400:] if done.returncode else "")
    if problem:
        print(f"WARNING: {instructor.pw_name}'s grading kernels cannot be sandboxed here: {problem}")


def write_config(config_dir: Path, klass: dict) -> Path:
    """Copy config/ into `config_dir`, write the class file; everyone may read, only root write."""
    shutil.copytree(HERE / "config", config_dir, dirs_exist_ok=True)
    class_file = config_dir / "pgcourse_class.json"
    class_file.write_text(json.dumps(klass, indent=2) + "\n")
    for path in [config_dir, *config_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return class_file


def make_exchange(exchange: Path) -> None:
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777 | stat.S_ISVTX)


def init_course(instructor: pwd.struct_passwd, course_dir: Path, config_dir: Path, python: str) -> None:
    """The term's nbgrader course, made by the instructor (who then owns it and its gradebook)."""
    if (course_dir / "nbgrader_config.py").exists():
        return  # a running term: never overwrite its gradebook
    course_dir.parent.mkdir(parents=True, exist_ok=True)
    pgcourse = str(Path(python).parent / "pgcourse")
    env = {"JUPYTER_CONFIG_PATH": os.pathsep.join([str(config_dir / "roles" / "instructor"),
                                                   str(config_dir)])}
    as_user(instructor, [pgcourse, "course", "init", str(course_dir)], cwd=course_dir.parent, env=env)
    with open(course_dir / "nbgrader_config.py", "a") as fh:
        fh.write(LATE_POLICY)


# The class's late policy, applied when grading (nbgrader's LateSubmissionPlugin, also used by
# `pgcourse grade --course`): a submission after the assignment's due date scores zero.
LATE_POLICY = """
# A submission after the due date (nbgrader db assignment add ID --duedate=...) scores zero;
# nbgrader's other choice is "none". Written by deploy/jupyterhub/setup_class.py.
c.LateSubmissionPlugin.penalty_method = "zero"
"""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    instructor = account(args.instructor)
    for name in args.students:
        account(name)
    if os.geteuid() != 0:
        raise SystemExit("run setup_class.py as root: it writes system-wide config and the exchange")
    if not args.no_install:
        install(args.python)
        keep_solutions_to(instructor, args.python)
    course_dir = (args.course_dir or Path(instructor.pw_dir) / COURSE_ID).resolve()
    klass = {"course_id": COURSE_ID, "instructors": [args.instructor], "students": args.students,
             "exchange": str(args.exchange.resolve()), "course_dir": str(course_dir),
             "python": args.python}
    class_file = write_config(args.config_dir.resolve(), klass)
    make_exchange(args.exchange.resolve())
    init_course(instructor, course_dir, args.config_dir.resolve(), args.python)
    check_sandbox(instructor, args.python)
    print(f"class file: {class_file}\nexchange: {args.exchange}\ncourse: {course_dir}\n"
          f"start the hub: jupyterhub -f {HERE / 'jupyterhub_config.py'}"
          + ("" if args.config_dir.resolve() == Path("/etc/jupyter") else
             f"  (with PGCOURSE_CLASS={class_file})"))


if __name__ == "__main__":
    main()
