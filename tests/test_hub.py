"""The course on a real JupyterHub: one instructor, real students, nbgrader's exchange, a browser.

One hub (tests/hub_harness.py) for the module: deploy/jupyterhub/ unchanged, the dummy
authenticator, each person their own Unix user with their own single-user server. The term:

1. the instructor releases notebook 01 to the exchange (nbgrader's own commands, as the
   instructor, in the term course that `setup_class.py` made);
2. each student fetches it through their server's nbgrader REST handlers (what the Assignments
   tab's buttons call), fills it in through the contents API and submits: student1 one wrong
   function first, then the correct notebook (both kept, the latest counts); student2 one wrong
   function; student1 also deletes the fetched copy and fetches it again;
3. the hub restarts (SIGTERM, as systemd would) between the submissions and the collection;
   after it, the instructor sets a due date and student3 submits late;
4. the instructor collects, grades into the term gradebook with `pgcourse grade --course`,
   generates and releases the feedback;
5. each student fetches their feedback: the scores are the gradebook's and no hidden test is in it.

The browser test logs pgc-student4 in with Debian's chromium (Playwright, headless), opens the
Assignments tab, fetches notebook 01, opens it and runs its first cells; the tab's screenshot is
kept in $PGCOURSE_ARTIFACTS (default tests/artifacts/hub_assignments.png).
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import submissions as S
from hub_harness import BIN, PASSWORD, ClassHub, Student, missing_requirements, wait_for

pytestmark = [pytest.mark.hub, pytest.mark.full]   # minutes: `make test-full` (CI) runs it, `make test` not

NB01 = "01_importance_weighting"
INSTRUCTOR = "pgc-instructor"
STUDENTS = ["pgc-student1", "pgc-student2", "pgc-student3", "pgc-student4"]
WRONG = "iw_gradient_estimate"  # the function student2 (and student1's first try) gets wrong
ARTIFACTS = Path(os.environ.get("PGCOURSE_ARTIFACTS", Path(__file__).parent / "artifacts"))


@pytest.fixture(scope="module")
def hub():
    why = missing_requirements()
    if why:
        pytest.skip(f"the hub test {why}")
    hub = ClassHub(INSTRUCTOR, STUDENTS)
    try:
        hub.open_python_to_users()
        hub.create_users()
        hub.setup_class()
        hub.start()
        yield hub
    finally:
        hub.close(keep_log=ARTIFACTS / "jupyterhub.log")


def instructor(hub: ClassHub, *args: str) -> str:
    done = hub.run_as(INSTRUCTOR, *args, cwd=hub.course_dir)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def nbgrader(hub: ClassHub, *args: str) -> str:
    return instructor(hub, str(BIN / "nbgrader"), *args)


@pytest.fixture(scope="module")
def released(hub):
    nbgrader(hub, "release_assignment", NB01)  # `pgcourse course init` generated it
    return NB01


def _wrong(nb: dict) -> dict:
    bad = S.appended_to(nb, WRONG, f"_right = {WRONG}\n"
                                   f"def {WRONG}(*args, **kwargs):\n    return -_right(*args, **kwargs)")
    return json.loads(json.dumps(bad))


def _filled_in(nb: dict, wrong: bool = False) -> dict:
    """The fetched notebook with every solution cell answered (as the student would type)."""
    import nbformat
    node = nbformat.from_dict(nb)
    answers = {S.grade_id(c): c.source for c in S.read(S.SOLUTIONS / f"{NB01}.ipynb").cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in node.cells:
        if S.grade_id(cell) in answers:
            cell.source = answers[S.grade_id(cell)]
    return _wrong(node) if wrong else json.loads(json.dumps(node))


def _notebook_path() -> str:
    return f"{NB01}/{NB01}.ipynb"


def _fill_and_submit(student: Student, wrong: bool) -> dict:
    nb = student.get_file(_notebook_path())["content"]
    student.put_notebook(_notebook_path(), _filled_in(nb, wrong=wrong))
    result = student.act("submit", NB01)
    assert result["success"], result
    return result


def _export(hub: ClassHub) -> dict[str, dict]:
    """`nbgrader export` (the instructor's grades CSV): one row per student."""
    export = hub.course_dir / "grades.csv"
    nbgrader(hub, "export", "--to", str(export))
    return {row["student_id"]: row for row in csv.DictReader(io.StringIO(export.read_text()))}


def _max_autograded() -> float:
    total = 0.0
    for cell in S.read(S.SOLUTIONS / f"{NB01}.ipynb").cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            total += float(meta["points"])
    return total


@pytest.fixture(scope="module")
def term(hub, released):
    """Steps 2 to 5 of the term; returns what each step left behind, for the tests to read."""
    seen: dict = {}
    clock = Clock(seen)
    s1, s2, s3 = (Student(hub, name) for name in STUDENTS[:3])
    hub.spawn(s1.name, s2.name, s3.name, INSTRUCTOR)
    clock("spawn 4 servers")
    for student in (s1, s2, s3):
        listing = student.act("fetch", NB01)
        assert listing["success"], listing
        seen.setdefault("fetched_status", {})[student.name] = listing["value"][0]["status"]

    # student1 deletes the fetched copy, then fetches again
    student_path = hub.home(s1.name) / _notebook_path()
    s1.delete(_notebook_path())
    s1.delete(NB01)
    seen["deleted"] = not student_path.exists()
    s1.act("fetch", NB01)
    seen["refetched"] = S.read(student_path) == S.read(hub.course_dir / "release" / NB01 / f"{NB01}.ipynb")

    _fill_and_submit(s1, wrong=True)
    last = _fill_and_submit(s1, wrong=False)
    seen["s1_submissions"] = [a for a in last["value"] if a["status"] == "submitted"]
    _fill_and_submit(s2, wrong=True)
    seen["inbound_before_restart"] = sorted(os.listdir(hub.exchange / "pgcourse" / "inbound"))
    clock("fetch, delete, fetch again, fill in, submit 3 times")

    users_before = {u["name"]: sorted(u["groups"]) for u in hub.api("GET", "/users").json()}
    hub.restart()
    seen["users_after_restart"] = {u["name"]: sorted(u["groups"]) for u in hub.api("GET", "/users").json()}
    seen["users_before_restart"] = users_before
    seen["inbound_after_restart"] = sorted(os.listdir(hub.exchange / "pgcourse" / "inbound"))
    clock("restart the hub")

    # the deadline passes (now: after every submission so far); student3 submits after it
    deadline = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    nbgrader(hub, "db", "assignment", "add", NB01, f"--duedate={deadline}")
    seen["servers_after_restart"] = {name: bool(hub.api("GET", f"/users/{name}").json()["servers"])
                                     for name in (s1.name, s2.name, s3.name)}
    # a server that outlived the restart checks a new login's token with the new hub
    seen["s1_after_restart"] = Student(hub, s1.name).assignments()
    _fill_and_submit(s3, wrong=False)
    clock("late submission")

    nbgrader(hub, "collect", NB01)
    seen["collected"] = sorted(p.name for p in (hub.course_dir / "submitted").iterdir())
    clock("collect")
    # one worker: on CI's two cores the other one runs the rest of the suite (tests/test_parallel_grading.py
    # covers --workers 2)
    seen["grade_log"] = instructor(hub, str(BIN / "pgcourse"), "grade", "--course", str(hub.course_dir),
                                   str(hub.course_dir / "submitted"), "--workers", "1")
    clock("pgcourse grade --course: 3 submissions")
    # nbgrader's feedback step, from the term gradebook (late penalties included; the course's config
    # keeps hidden tests out). --force: it replaces the pages `pgcourse grade` wrote in each submission's
    # scratch course, which knows no due date.
    nbgrader(hub, "generate_feedback", "--force", NB01)
    nbgrader(hub, "release_feedback", NB01)
    seen["grades"] = _export(hub)
    clock("feedback, export")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for student in (s1, s2, s3):
        student.act("fetch_feedback", NB01)
        folder = student.get_file(f"{NB01}/feedback")["content"]
        assert len(folder) == 1, folder
        html_path = f"{folder[0]['path']}/{NB01}.html"
        seen.setdefault("feedback", {})[student.name] = page = student.get_file(html_path)["content"]
        (ARTIFACTS / f"hub_feedback_{student.name}.html").write_text(page)
        seen.setdefault("listing", {})[student.name] = student.assignments()
    clock("students fetch feedback")
    (ARTIFACTS / "hub_timings.json").write_text(json.dumps(seen["timings"], indent=1))
    return seen


class Clock:
    """Seconds per step of the term, kept in seen["timings"] (and written to the artifacts)."""

    def __init__(self, seen: dict):
        self.seen, self.last = seen, time.monotonic()
        seen["timings"] = {}

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        self.seen["timings"][step] = round(now - self.last, 1)
        self.last = now


# --- the term, step by step ---------------------------------------------------------------------

def test_students_fetch_through_the_assignments_handlers(term):
    assert term["fetched_status"] == {name: "fetched" for name in STUDENTS[:3]}


def test_a_deleted_copy_can_be_fetched_again(term):
    assert term["deleted"] and term["refetched"]


def test_submitting_twice_keeps_both_and_the_latest_counts(term):
    ((entry,),) = [term["s1_submissions"]]
    assert len(entry["submissions"]) == 2
    inbound = [n for n in term["inbound_before_restart"] if n.startswith("pgc-student1+")]
    assert len(inbound) == 2
    grades = term["grades"]["pgc-student1"]
    assert float(grades["score"]) == _max_autograded()  # every autograded point; the written answer is graded by hand


def test_one_wrong_function_loses_exactly_its_points(term):
    points = {S.grade_id(c): float(c.metadata.nbgrader["points"])
              for c in S.read(S.SOLUTIONS / f"{NB01}.ipynb").cells
              if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")}
    grades = term["grades"]["pgc-student2"]
    assert float(grades["score"]) == pytest.approx(_max_autograded() - points[f"test_{WRONG}"])


def test_the_instructors_grading_ran_in_the_sandbox(term):
    """On the hub the instructor is no root: the kernels ran in a user namespace of their account."""
    log = term["grade_log"]
    assert "graded pgc-student1/" in log and "NO SANDBOX" not in log and "ERROR" not in log, log


def test_a_late_submission_gets_the_configured_penalty(term):
    late = term["grades"]["pgc-student3"]
    assert float(late["raw_score"]) == _max_autograded()  # the answers were right
    assert float(late["late_submission_penalty"]) == _max_autograded()  # policy "zero"
    assert float(late["score"]) == 0
    on_time = term["grades"]["pgc-student2"]
    assert float(on_time["late_submission_penalty"]) == 0


def test_the_hub_restart_loses_nothing(term):
    # the class's servers keep running through it (cleanup_servers = False): no work is lost
    assert term["servers_after_restart"] == {name: True for name in STUDENTS[:3]}
    ((entry,),) = [[a for a in term["s1_after_restart"] if a["status"] == "submitted"]]
    assert len(entry["submissions"]) == 2
    assert term["users_after_restart"] == term["users_before_restart"]
    assert term["inbound_after_restart"] == term["inbound_before_restart"]
    assert term["collected"] == ["pgc-student1", "pgc-student2", "pgc-student3"]


def test_feedback_shows_the_gradebook_scores_and_no_hidden_test(term):
    hidden = _hidden_test_lines()
    assert hidden, "notebook 01 has hidden tests to leak"
    shown = {name: re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", page) for name, page in term["feedback"].items()}
    shown = {name: m and (float(m.group(1)), float(m.group(2))) for name, m in shown.items()}
    booked = {name: (float(term["grades"][name]["score"]), float(term["grades"][name]["max_score"]))
              for name in shown}
    assert shown == booked  # the late penalty included: the late student reads 0
    for name, page in term["feedback"].items():
        leaked = [line for line in hidden if html.escape(line) in page or line in page]
        assert not leaked, f"{name}'s feedback shows hidden tests: {leaked[:3]}"


def _hidden_test_lines() -> list[str]:
    """Lines inside BEGIN/END HIDDEN TESTS that appear nowhere in the student's release."""
    released = "\n".join(c.source for c in S.read(S.NOTEBOOKS / f"{NB01}.ipynb").cells)
    lines = []
    for cell in S.read(S.SOLUTIONS / f"{NB01}.ipynb").cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [ln.strip() for ln in block.splitlines() if len(ln.strip()) > 12 and ln.strip() not in released]
    return lines


# --- what the exchange's permissions enforce between real users ---------------------------------

def _as_student(hub: ClassHub, name: str, code: str):
    return hub.run_as(name, str(BIN / "python"), "-c", code)


def test_a_student_cannot_list_the_inbound_or_read_another_home(hub, term):
    inbound = hub.exchange / "pgcourse" / "inbound"
    other_copy = hub.home("pgc-student1") / _notebook_path()
    for path, action in ((inbound, "os.listdir"), (other_copy, "open"), (hub.course_dir / "gradebook.db", "open")):
        done = _as_student(hub, "pgc-student2", f"import os; {action}({str(path)!r})")
        assert done.returncode != 0 and "PermissionError" in done.stderr, (path, done.stdout, done.stderr)
    # ... and their own server lists only their own submissions
    subs = [a for a in term["listing"]["pgc-student2"] if a["status"] == "submitted"]
    assert [s["student_id"] for a in subs for s in a["submissions"]] == ["pgc-student2"]


def test_submission_names_are_unguessable(term):
    """nbgrader's default exchange hides a submission by its name only: the files are world-readable
    (0444) for a user who knows the full name, so the name carries a random suffix."""
    for name in term["inbound_before_restart"]:
        student, assignment, _timestamp, suffix = name.split("+")
        assert assignment == NB01 and len(suffix) == 12  # 9 random bytes, base64


def test_only_the_instructor_has_the_formgrader(hub, term):
    instructor_token = Student(hub, INSTRUCTOR)
    assert instructor_token.request("GET", "/formgrader", allow_redirects=False).status_code in (200, 302)
    student = Student(hub, "pgc-student2")
    with pytest.raises(Exception, match="404"):
        student.request("GET", "/formgrader")


# --- a student in a real browser ------------------------------------------------------------------

NEWS_PROMPT = "Would you like to get notified about official Jupyter news?"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's own connections are refused, many at a time,
# on a closed network; as root it needs --no-sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_a_student_works_in_the_browser(hub, released):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright

    name = "pgc-student4"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(f"{hub.url}/hub/login")
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit], button[type=submit]")
            page.wait_for_url(re.compile(rf"/user/{name}/lab"), timeout=300_000)
            page.locator("#jp-main-dock-panel").wait_for()
            page.get_by_role("menuitem", name="Nbgrader").click()
            page.get_by_role("menuitem", name="Assignment List").click()
            fetch = page.get_by_role("button", name="Fetch", exact=True)
            fetch.click()
            # the downloaded assignment unfolds: click the list's link, since once the file browser has
            # refreshed, the fetched folder is a second button with the same name
            page.locator("a.assignment-notebooks-link", has_text=NB01).click()
            notebook_link = page.get_by_role("link", name=NB01, exact=True)
            expect(notebook_link).to_be_visible(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "hub_assignments.png"))
            notebook_link.click()
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            # keys pressed before the kernel is connected move the selection without running
            expect(page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle"))).to_be_visible(timeout=120_000)
            page.locator(".jp-Notebook .jp-Cell").first.click()
            page.keyboard.press("Escape")
            for _ in range(4):  # markdown, imports, markdown, the first computation
                page.keyboard.press("Shift+Enter")
            expect(page.locator(".jp-InputPrompt", has_text="[2]:")).to_be_visible(timeout=180_000)
            page.get_by_role("menuitem", name="File").click()
            page.get_by_role("menuitem", name=re.compile(r"^Save Notebook")).first.click()
            expect(page.locator(".lm-TabBar-tab.jp-mod-dirty")).to_have_count(0, timeout=60_000)
            news_prompts = page.get_by_text(NEWS_PROMPT).count()
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "hub_browser_failure.png"))
            raise
        finally:
            browser.close()

    student = Student(hub, name)
    saved = wait_for(lambda: _executed(student.get_file(_notebook_path())["content"], 2), 60,
                     "the notebook saved with its first two code cells run")
    errors = [o for c in saved[:2] for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors
    assert news_prompts == 0
    settings = student.request("GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification").json()
    # overrides.json changes the schema's default (the class's choice); the student chose nothing
    assert settings["schema"]["properties"]["fetchNews"]["default"] == "false"
    assert "fetchNews" not in (settings.get("settings") or {})


def _executed(nb: dict, n: int) -> list[dict] | None:
    """The first n code cells, if each has run (an execution count)."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"][:n]
    return code if all(c.get("execution_count") for c in code) else None
