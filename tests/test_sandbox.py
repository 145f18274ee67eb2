"""Hostile submissions through the real `pgcourse grade --course`: each attack is refused by the sandbox.

One grading run (`pgcourse grade --course COURSE INBOX --workers 1`, a subprocess, as an instructor
runs it) grades the drill for a class of attackers, each with one attack in its first answer cell
and every other answer blank, and for honest students graded after them by the same worker (so a
daemon or a planted file would meet them). The attacker knows the real paths: the course, the
instructor's home (a fresh folder with a secret), a loopback port and a Dask scheduler that this
test opens. Each attack prints what it got; the test reads that from the autograded notebook, and
checks from outside that nothing of the course or the home changed, that nobody connected, that
no process outlived the run, and that the honest students got exactly their usual scores.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

import submissions as S
from pgcourse.grading import course, sandbox

DRILL = S.DRILL
BIN = Path(sys.executable).parent
SOLVED_POINTS = 8   # the drill's autograded points (the written answer is graded by hand)
CANARY_ENV = "PGCOURSE_TEST_INSTRUCTOR_SECRET"

pytestmark = pytest.mark.skipif(sandbox.problem() is not None, reason=f"no sandbox here: {sandbox.problem()}")


def attacks(course_dir: Path, home: Path, port: int, scheduler: str) -> dict[str, str]:
    """student → the code of their first answer cell (`centred`)."""
    c, h = str(course_dir), str(home)
    return {
        "a1_read_source": f"""
import os
for path in [{c!r} + "/source", "../../source", {str(S.DRILL_SOLUTIONS)!r}, {str(S.SOLUTIONS)!r}]:
    print("ATTACK read_source", path, os.path.exists(path))
hits = []   # the drill's hidden tests assert `… [0.0, 0.0, 1.0]), "along one axis"`
for top in ["/sandbox", "/work", "/root", "/home", "/srv", "/opt", "/tmp"]:
    for folder, subfolders, names in os.walk(top):
        subfolders[:] = [s for s in subfolders if s not in ("site-packages", "python3.11")]   # third parties
        hits += [os.path.join(folder, n) for n in names if n.endswith((".ipynb", ".py", ".json", ".db")) and
                 '1.0]), "along one' + ' axis"' in open(os.path.join(folder, n), errors="replace").read()]
print("ATTACK read_source hidden tests found:", hits)""",
        "a2_read_others": f"""
import glob, os
print("ATTACK read_others", glob.glob({c!r} + "/submitted/*/*/*.ipynb"), os.path.exists({c!r}))
seen = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            seen.append(open(f"/proc/{{pid}}/cmdline", "rb").read().replace(b"\\0", b" ").decode())
        except OSError:
            pass
print("ATTACK read_others cmdlines naming the course:", [s for s in seen if {c!r} in s], len(seen), "processes")""",
        "a3_gradebook": f"""
import sqlite3
for mode in ("rb", "ab"):
    try:
        open({c!r} + "/gradebook.db", mode)
        print("ATTACK gradebook OPENED", mode)
    except OSError as err:
        print("ATTACK gradebook refused", mode, type(err).__name__)
try:
    sqlite3.connect({c!r} + "/gradebook.db").execute("select * from student").fetchall()
    print("ATTACK gradebook READ")
except sqlite3.Error as err:
    print("ATTACK gradebook refused sqlite", err)""",
        "a4_write_outside": f"""
for path in [{c!r} + "/pwned.txt", {h!r} + "/pwned.txt", {c!r} + "/autograded/pwned.txt", "/pwned.txt",
             "/usr/pwned.txt"]:
    try:
        open(path, "w").write("pwned")
        print("ATTACK write WROTE", path)
    except OSError as err:
        print("ATTACK write refused", path, type(err).__name__)""",
        "a5_loopback": f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    print("ATTACK loopback CONNECTED")
except OSError as err:
    print("ATTACK loopback refused", type(err).__name__)
print("ATTACK loopback environment:", sorted(__import__("os").environ))""",
        "a6_dask": f"""
try:
    from distributed import Client
    Client({scheduler!r}, timeout=3)
    print("ATTACK dask CONNECTED")
except Exception as err:
    print("ATTACK dask refused", type(err).__name__)""",
        "a7_memory": """
try:
    hog = bytearray(6 << 30)
    print("ATTACK memory ALLOCATED 6 GB")
except MemoryError:
    print("ATTACK memory refused MemoryError")""",
        "a8_forks": """
import os, time
pids = []
try:
    for _ in range(3000):
        pid = os.fork()
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        pids.append(pid)
    print("ATTACK forks UNBOUNDED", len(pids))
except OSError as err:
    print("ATTACK forks stopped after", len(pids), type(err).__name__)""",
        "a9_disk": """
import os
written, chunk = 0, b"x" * (32 << 20)
try:
    for i in range(200):
        with open(f"fill{i}.bin", "wb") as out:
            for _ in range(16):
                out.write(chunk)
                written += len(chunk)
    print("ATTACK disk UNBOUNDED", written >> 20, "MiB")
except OSError as err:
    print("ATTACK disk stopped after", written >> 20, "MiB", type(err).__name__)""",
        "b1_daemon": f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open("/proc/self/comm", "w").write("pgc-daemon")
        for _ in range(18000):   # 15 minutes (the run's limit is 10): look for the next submission, write
            for folder, _, names in os.walk("/sandbox"):
                for n in names:
                    try:
                        open(os.path.join(folder, n), "a").write("pwned")
                    except OSError:
                        pass
            for path in [{c!r} + "/daemon.txt", {h!r} + "/daemon.txt"]:
                try:
                    open(path, "w").write("pwned")
                except OSError:
                    pass
            time.sleep(0.05)
        os._exit(0)
    os._exit(0)
os.wait()
print("ATTACK daemon started")""",
        "b2_startup_file": f"""
import os
planted = []
for ipython_dir in [os.environ.get("IPYTHONDIR", ""), os.path.expanduser("~/.ipython"), {h!r} + "/.ipython"]:
    folder = os.path.join(ipython_dir, "profile_default", "startup")
    try:
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, "00-pass.py"), "w").write(
            "get_ipython().input_transformers_post.append(lambda lines: ['pass\\\\n'])\\n")
        planted.append(folder)
    except OSError:
        pass
print("ATTACK startup planted in", planted)""",
        "b5_kill_all": """
import os, signal
os.kill(-1, signal.SIGKILL)   # every process it may signal: in the sandbox, the fork server and itself""",
        "b3_shadow": """
import pgcourse, pgcourse.checks.core
print("ATTACK shadow imported", pgcourse.__file__)""",
        "b4_symlink": f"""
import os
os.symlink({c!r} + "/gradebook.db", "exfiltrated.db")
os.symlink({h!r} + "/secret.txt", "secret.txt")
print("ATTACK symlink made", sorted(os.listdir(".")))""",
    }


SHADOW = {"pgcourse/__init__.py": b"", "pgcourse/checks/__init__.py": b"",
          "pgcourse/checks/core.py": b"class Check:\n    def __init__(self, *a): pass\n    def call(self, *a): return 0\n"
                                     b"    def expect_close(self, *a): pass\n    def done(self): pass\n"}


def _listen() -> tuple[socket.socket, list]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    connections: list = []

    def accept():
        with contextlib.suppress(OSError):
            while True:
                connections.append(server.accept())
    threading.Thread(target=accept, daemon=True).start()
    return server, connections


def _scheduler(tmp: Path) -> tuple[subprocess.Popen, str]:
    """A Dask scheduler on 127.0.0.1, as `pgcourse grade --workers N` starts one (no authentication)."""
    info = tmp / "scheduler.json"
    proc = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                             "--no-dashboard", "--scheduler-file", str(info)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if info.exists() and info.read_text().strip():
            return proc, json.loads(info.read_text())["address"]
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the Dask scheduler did not start")


def _processes_named(name: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            found += [int(pid)] if Path(f"/proc/{pid}/comm").read_text().strip() == name else []
    return found


def _grade(course_dir: Path, inbox: Path, home: Path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HOME": str(home), CANARY_ENV: "hunter2", **env}
    return subprocess.run([str(BIN / "pgcourse"), "grade", "--course", str(course_dir), str(inbox),
                           "--workers", "1", *extra], capture_output=True, text=True, env=environment, timeout=600)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    home, course_dir = base / "instructor_home", base / "course"
    home.mkdir()
    (home / "secret.txt").write_text("the instructor's secret")
    course.init_course(course_dir, S.DRILL_SOLUTIONS, [DRILL])
    earlier = base / "earlier"
    S.write(earlier, "b0_earlier", DRILL, S.solved(DRILL))
    first = _grade(course_dir, earlier, home)
    assert first.returncode == 0, first.stdout + first.stderr

    listener, connections = _listen()
    scheduler, address = _scheduler(base)
    try:
        inbox = base / "inbox"
        blank = S.blank(DRILL)
        for student, code in attacks(course_dir, home, listener.getsockname()[1], address).items():
            S.write(inbox, student, DRILL, S.with_answer(blank, "centred", code))
        for name, data in SHADOW.items():
            target = inbox / "b3_shadow" / DRILL / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.symlink(course_dir / "gradebook.db", inbox / "b4_symlink" / DRILL / "gradebook.db")
        os.symlink(home / "secret.txt", inbox / "b4_symlink" / DRILL / "notes.txt")
        S.write(inbox, "h_honest", DRILL, S.solved(DRILL))
        S.write(inbox, "y_blank", DRILL, blank)
        S.write(inbox, "z_honest", DRILL, S.solved(DRILL))
        protected = {p: S.digest(p) for p in (course_dir / "source", course_dir / "release", home)}
        protected[course_dir / "nbgrader_config.py"] = (course_dir / "nbgrader_config.py").read_bytes()
        seen, done = [], threading.Event()

        def watch():   # the daemon exists while its submission is graded (so the check after can fail)
            while not done.is_set() and not seen:
                seen.extend(_processes_named("pgc-daemon"))
                time.sleep(0.05)
        threading.Thread(target=watch, daemon=True).start()
        start = time.perf_counter()
        run = _grade(course_dir, inbox, home)
        seconds = time.perf_counter() - start
        done.set()
        time.sleep(1)   # a daemon that survived would have touched its files by now
        after = {p: (S.digest(p) if p.is_dir() else p.read_bytes()) for p in protected}
        yield dict(run=run, seconds=seconds, course=course_dir, home=home, protected=protected, after=after,
                   connections=list(connections), daemons=_processes_named("pgc-daemon"), daemon_seen=seen)
    finally:
        listener.close()
        scheduler.kill()
        scheduler.wait()


def _output(hostile, student: str) -> str:
    nb = nbformat.read(hostile["course"] / "autograded" / student / DRILL / f"{DRILL}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if S.grade_id(c) == "centred")
    return "".join(o.get("text", "") + "".join(o.get("traceback", [])) for o in cell.outputs)


def _points(hostile, student: str) -> float:
    for line in hostile["run"].stdout.splitlines():
        if line.startswith(f"{student} / {DRILL}:"):
            return float(line.split(":")[1].split("/")[0])
    raise AssertionError(f"{student} not in the table:\n{hostile['run'].stdout}")


def test_the_run_finishes_and_every_submission_is_graded(hostile):
    run = hostile["run"]
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]   # b5_kill_all could not be graded
    errors = [line for line in run.stdout.splitlines() if "ERROR" in line]
    assert errors and all("b5_kill_all" in line or "kernel died" in line for line in errors), errors
    assert "NO SANDBOX" not in run.stdout


def test_honest_students_get_exactly_their_usual_scores(hostile):
    assert _points(hostile, "h_honest") == SOLVED_POINTS
    assert _points(hostile, "z_honest") == SOLVED_POINTS
    assert _points(hostile, "y_blank") == 0   # graded after a planted startup file and a daemon
    from pgcourse.grading import record
    assert sum(q.points or 0 for q in record.scores(hostile["course"], DRILL, "b0_earlier")) == SOLVED_POINTS


def test_nothing_of_the_course_or_the_instructors_home_changed(hostile):
    for path, before in hostile["protected"].items():
        assert hostile["after"][path] == before, f"{path} changed"
    for folder, name in itertools.product((hostile["course"], hostile["home"]), ("pwned.txt", "daemon.txt")):
        assert not (folder / name).exists()
    assert not list(hostile["home"].rglob("00-pass.py"))   # the planted IPython startup file
    assert not (hostile["course"].parent / "pwned.txt").exists()


def test_course_files_and_other_submissions_are_out_of_sight(hostile):
    out = _output(hostile, "a1_read_source")
    assert out.count("False") == 4 and "True" not in out, out
    assert "hidden tests found: []" in out, out
    out = _output(hostile, "a2_read_others")
    assert "read_others [] False" in out and "naming the course: []" in out, out
    out = _output(hostile, "a3_gradebook")
    assert "OPENED" not in out and "READ" not in out and out.count("refused") == 3, out


def test_writes_outside_its_folder_are_refused(hostile):
    out = _output(hostile, "a4_write_outside")
    assert "WROTE" not in out and out.count("refused") == 5, out


def test_no_network_not_even_loopback_nor_the_dask_scheduler(hostile):
    assert "ATTACK loopback refused" in _output(hostile, "a5_loopback")
    assert "ATTACK dask refused" in _output(hostile, "a6_dask")
    assert hostile["connections"] == [], "a kernel reached the test's loopback port"


def test_only_the_kernels_own_variables_are_in_its_environment(hostile):
    line = next(l for l in _output(hostile, "a5_loopback").splitlines() if "environment:" in l)
    names = set(eval(line.split("environment:", 1)[1]))
    assert CANARY_ENV not in names
    ipython_own = {"PYDEVD_USE_FRAME_EVAL", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER", "TERM"}
    assert names <= set(sandbox.base_env()) | set(sandbox.KERNEL_ENV) | ipython_own


def test_memory_processes_and_disk_are_bounded(hostile):
    assert "ATTACK memory refused MemoryError" in _output(hostile, "a7_memory")
    out = _output(hostile, "a8_forks")
    assert "ATTACK forks stopped after" in out, out
    assert int(out.split("stopped after")[1].split()[0]) < sandbox.LIMITS.processes
    out = _output(hostile, "a9_disk")
    assert "ATTACK disk stopped after" in out, out
    assert int(out.split("stopped after")[1].split()[0]) <= sandbox.DISK_BYTES >> 20


def test_a_daemon_dies_with_its_kernel_and_holds_no_pipe_open(hostile):
    assert "ATTACK daemon started" in _output(hostile, "b1_daemon")
    assert hostile["daemon_seen"], "the daemon never ran, so its end was not tested"
    assert hostile["daemons"] == []                     # no process of it outlived the run
    assert hostile["seconds"] < 300                     # the caller's pipe was not held open for its minute


def test_killing_every_process_it_can_costs_only_its_own_grade(hostile):
    assert "kernel died" in hostile["run"].stdout.split("b5_kill_all / ")[1].split("\n")[1]
    assert _points(hostile, "h_honest") == SOLVED_POINTS   # graded next, by a new fork server


def test_a_planted_startup_file_reaches_no_later_kernel(hostile):
    assert "ATTACK startup planted in" in _output(hostile, "b2_startup_file")
    assert _points(hostile, "y_blank") == 0


def test_files_handed_in_beside_the_notebook_shadow_nothing(hostile):
    out = _output(hostile, "b3_shadow")
    assert "ATTACK shadow imported" in out and "/sandbox/" not in out, out
    assert _points(hostile, "b3_shadow") == 0


def test_symlinks_are_never_followed_and_only_the_notebook_comes_back(hostile):
    assert "ATTACK symlink made" in _output(hostile, "b4_symlink")
    assert _points(hostile, "b4_symlink") == 0
    for step in ("autograded", "submitted"):
        folder = hostile["course"] / step / "b4_symlink" / DRILL
        assert not any(p.is_symlink() for p in folder.rglob("*")), step
        assert "the instructor's secret" not in "".join(p.read_text(errors="replace") for p in folder.rglob("*")
                                                       if p.is_file())
    assert sorted(p.name for p in (hostile["course"] / "autograded" / "b4_symlink" / DRILL).iterdir()) == \
        [f"{DRILL}.ipynb"]
    assert "left out" in hostile["run"].stdout   # the grader says what it did not read
