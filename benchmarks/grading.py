"""How fast does a class grade, serially and on two workers? (Not a test: timings depend on the machine.)

    .venv/bin/python benchmarks/grading.py [--students 10] [--notebooks 01 02 …] [--profile] [--keep DIR]

Builds a synthetic class over the seven notebooks: student i hands in, per notebook, the solved
notebook, the blank release, or a wrong answer taken from the mutation suite (tests/mutants/),
in turn (the mutant's module inlined in the cell: the grading sandbox cannot see tests/). Grades it
into a fresh course with `--workers 1` and into another with `--workers 2` (a two-worker Dask
LocalCluster), each the way the course grades (kernels in the grading sandbox, graded test cells
run in the grading process: `grading.trusted_tests`) and, for comparison in the same run, the way
nbgrader alone does (`--no-sandbox` with PGCOURSE_TESTS_IN_KERNEL=1: test cells in an unsandboxed
kernel), then prints the per-submission times, whether all runs gave identical scores,
and last one JSON line (with the machine's busy and stolen CPU seconds during
each run: on a shared machine whose speed drifts, they tell parallel overhead from a slower
machine). `--profile` also runs each solved notebook once as the autograder does (in a kernel
from the fork server: the first notebook's kernel start includes the server's) and prints where
its seconds go (kernel start, the slowest cells).
Targets on CI's 2 cores: ≤ 60 s per student for the seven-notebook series on one worker,
speedup ≥ 1.7× with two workers, identical scores; the sandbox and the trusted test cells together
cost ≤ 1.2× the seconds per student of nbgrader's way.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import submissions as S  # noqa: E402
from pgcourse.grading import autograde, course, exports, trusted_tests  # noqa: E402
from pgcourse.grading.parallel import dask_available  # noqa: E402


def _wrong_answers(assignment: str) -> list[tuple[str, str]]:
    """(function, source that rebinds it to a mutant) for each mutant of the notebook: the mutants'
    module, inlined (a grading kernel sees no tests/ folder), then the function rebound."""
    module = importlib.import_module(f"mutants.m{assignment}")
    inlined = Path(module.__file__).read_text().replace(
        "from mutation import Exercise", "def Exercise(*args, **kwargs):\n    return None")
    cells = {S.grade_id(c) for c in S.read(S.NOTEBOOKS / f"{assignment}.ipynb").cells}
    out = []
    for exercise in module.EXERCISES:
        if exercise.function not in cells:
            continue
        for wrong in exercise.wrong:
            out.append((exercise.function, f"{inlined}\n{exercise.function} = {wrong.__name__}\n"))
    return out


def synthetic_class(folder: Path, students: int, assignments: list[str]) -> None:
    for i in range(students):
        for j, assignment in enumerate(assignments):
            kind = (i + j) % 3
            if kind == 0:
                nb = S.solved(assignment)
            elif kind == 1:
                nb = S.blank(assignment)
            else:
                wrongs = _wrong_answers(assignment)
                function, source = wrongs[(i * 7 + j) % len(wrongs)]
                nb = S.appended_to(S.solved(assignment), function, source)
            S.write(folder, f"student{i:03d}", assignment, nb)


def _cpu_s() -> tuple[float, float]:
    """CPU seconds since boot, all processes (Linux's /proc/stat): this machine's busy ones, and the
    ones its hypervisor gave to other machines ("steal": on a shared host, time this one waited)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    steal = fields[7] if len(fields) > 7 else 0
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4] - steal) / tick, steal / tick   # less idle, iowait and steal


def _grade(folder: Path, root: Path, assignments: list[str], workers: int, sandboxed: bool = True):
    """The results, the wall seconds, and the CPU seconds busy and stolen meanwhile."""
    course.init_course(root, S.SOLUTIONS, assignments)
    start, (busy, steal) = time.perf_counter(), _cpu_s()
    results = autograde.grade_course(root, folder, workers=workers, log=lambda *_: None, sandboxed=sandboxed)
    busy_after, steal_after = _cpu_s()
    return results, time.perf_counter() - start, busy_after - busy, steal_after - steal


def _scores(results):
    return {(r.student, r.assignment): [(q.question, q.points) for q in r.questions] for r in results}


def profile(assignment: str, timeout: int) -> dict:
    """Run the solved notebook as the autograder does; kernel start and the slowest cells."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    from pgcourse.grading.forked_kernels import ForkedKernelManager

    nb = S.solved(assignment)
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config()
        course.quiet_kernels(cfg, Path(tmp))
        start = time.perf_counter()
        client = NotebookClient(nb, config=cfg, timeout=timeout, allow_errors=True, kernel_name="python3",
                                kernel_manager_class=ForkedKernelManager,   # as ForkedExecute starts it
                                record_timing=True, extra_arguments=list(course.GRADING_KERNEL_ARGS),
                                resources={"metadata": {"path": tmp}})
        with client.setup_kernel():
            kernel_start = time.perf_counter() - start
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
    total = time.perf_counter() - start
    cells = []
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            t0, t1 = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
            draws = any(o.get("output_type") == "display_data" for o in cell.get("outputs", []))
            cells.append(((t1 - t0).total_seconds(), index, S.grade_id(cell) or "", draws, cell.source[:60]))
    return {"assignment": assignment, "total_s": round(total, 1), "kernel_start_s": round(kernel_start, 1),
            "drawing_cells_s": round(sum(c[0] for c in cells if c[3]), 1),
            "slowest": [{"cell": i, "s": round(s, 1), "grade_id": g, "draws": d, "source": src.replace("\n", " ")}
                        for s, i, g, d, src in sorted(cells, reverse=True)[:3]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--notebooks", nargs="*", default=None, help="default: all seven")
    parser.add_argument("--profile", action="store_true", help="also time each solved notebook's cells")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the serial run's course here, with its class reports and grade exports")
    args = parser.parse_args()
    if not dask_available():   # without it `--workers 2` grades one at a time: no speedup to measure
        raise SystemExit("the two-worker run needs Dask: pip install -e '.[grading]' (or make setup)")
    course.quiet_gradebook_warnings()
    assignments = course.resolve(args.notebooks, S.SOLUTIONS)
    if args.profile:
        for assignment in assignments:
            print(json.dumps(profile(assignment, course.DEFAULT_TIMEOUT_S)))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        synthetic_class(folder, args.students, assignments)
        serial, serial_s, serial_cpu, serial_steal = _grade(folder, Path(tmp) / "serial", assignments, workers=1)
        parallel, parallel_s, parallel_cpu, parallel_steal = _grade(folder, Path(tmp) / "parallel", assignments,
                                                                    workers=2)
        os.environ[trusted_tests.IN_KERNEL_SWITCH] = "1"   # the baseline: nbgrader's way (Dask's workers inherit it)
        try:
            bare, bare_s, _, bare_steal = _grade(folder, Path(tmp) / "bare", assignments, workers=1, sandboxed=False)
            bare_par, bare_par_s, _, bare_par_steal = _grade(folder, Path(tmp) / "bare_parallel", assignments,
                                                             workers=2, sandboxed=False)
        finally:
            del os.environ[trusted_tests.IN_KERNEL_SWITCH]
        if args.keep:
            shutil.copytree(Path(tmp) / "serial", args.keep)
            for label, path in exports.write_all(args.keep, args.keep, assignments):
                print(label, path)
    print(autograde.format_table(serial))
    per_notebook = {a: round(statistics.median(r.seconds for r in serial if r.assignment == a), 1) for a in assignments}
    print("median seconds per submission, one worker:", per_notebook)
    identical = _scores(serial) == _scores(parallel) == _scores(bare) == _scores(bare_par)
    print(json.dumps({
        "students": args.students, "notebooks": len(assignments), "submissions": len(serial),
        "seconds_per_student_1_worker": round(serial_s / args.students, 1),
        "seconds_per_student_2_workers": round(parallel_s / args.students, 1),
        "speedup": round(serial_s / parallel_s, 2), "identical_scores": identical,
        # the machine's busy CPU seconds and cores in use during each run: equal CPU seconds with fewer
        # wall seconds is parallel work; more CPU seconds is overhead (or another process, or a slower machine)
        "busy_cpu_s_1_worker": round(serial_cpu), "busy_cpu_s_2_workers": round(parallel_cpu),
        "cores_busy_1_worker": round(serial_cpu / serial_s, 2), "cores_busy_2_workers": round(parallel_cpu / parallel_s, 2),
        # CPU seconds the host gave to other machines meanwhile (a wall time on a shared host is only comparable
        # with another taken at the same steal)
        "steal_cpu_s_1_worker": round(serial_steal), "steal_cpu_s_2_workers": round(parallel_steal),
        # the same class graded nbgrader's way (no sandbox, test cells in the kernel), in this run: what the
        # sandbox and the trusted test cells cost together
        "no_sandbox_seconds_per_student_1_worker": round(bare_s / args.students, 1),
        "no_sandbox_seconds_per_student_2_workers": round(bare_par_s / args.students, 1),
        "sandbox_cost_1_worker": round(serial_s / bare_s, 2), "sandbox_cost_2_workers": round(parallel_s / bare_par_s, 2),
        "no_sandbox_speedup": round(bare_s / bare_par_s, 2),
        "steal_cpu_s_no_sandbox": round(bare_steal + bare_par_steal),
        "errors": sum(bool(r.error) for r in serial), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
