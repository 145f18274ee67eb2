"""`make lab`, then a JupyterLab terminal: `pgcourse check NN_topic.ipynb`, as the notebooks say, works.

The server is started by the Makefile's own `lab` recipe (`make -o .venv/.installed`: the set-up is not
redone), from an environment whose PATH lacks .venv/bin, as a student's shell has. A browser (Debian's
chromium, driven by Playwright, as in tests/test_hub.py) opens a terminal from JupyterLab's launcher and
types the command; without chromium, the same command goes through the terminal's websocket.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
CHROMIUM = "/usr/bin/chromium"
TOKEN = "pgcourse-lab-test"
NOTEBOOK = "00_mdp_recap.ipynb"
COMMAND = f"pgcourse check {NOTEBOOK}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not (VENV_BIN / "jupyter").exists() or shutil.which("make") is None:
        pytest.skip("needs make and the course's .venv")
    port = _free_port()
    home = tmp_path_factory.mktemp("home")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if Path(p).resolve() != VENV_BIN.resolve())
    env = {**os.environ, "PATH": path, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "SHELL": "/bin/bash"}
    env.pop("VIRTUAL_ENV", None)
    args = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={TOKEN}"
    if os.geteuid() == 0:
        args += " --allow-root"
    server = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                if server.poll() is None:
                    os.killpg(server.pid, signal.SIGTERM)
                pytest.fail("`make lab` did not start a server")
            time.sleep(0.5)
    yield base
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def _report_of(out: Path, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and "exit status" in out.read_text():
            return out.read_text()
        time.sleep(0.5)
    pytest.fail(f"no report from the terminal: {out.read_text() if out.exists() else '(no output)'}")


def _assert_report(text: str) -> None:
    assert "command not found" not in text, text
    assert "finite_horizon_objective" in text and "autograded total" in text, text


def test_pgcourse_check_in_a_terminal_through_the_websocket(lab, tmp_path):
    from tornado.websocket import websocket_connect

    request = urllib.request.Request(f"{lab}/api/terminals?token={TOKEN}", method="POST",   # as JupyterLab asks
                                     data=json.dumps({"cwd": ""}).encode(), headers={"Content-Type": "application/json"})
    name = json.load(urllib.request.urlopen(request))["name"]
    out = tmp_path / "report.txt"

    async def run() -> None:
        ws = await websocket_connect(f"{lab.replace('http', 'ws')}/terminals/websocket/{name}?token={TOKEN}")
        ws.write_message(json.dumps(["stdin", f"{COMMAND} > {out} 2>&1; echo exit status $? >> {out}\r"]))
        await asyncio.sleep(1)
        ws.close()

    asyncio.run(run())
    _assert_report(_report_of(out))


def test_pgcourse_check_in_a_browser_terminal(lab, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.txt"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{lab}/lab?token={TOKEN}")
            page.locator('.jp-LauncherCard[data-category="Other"][title*="terminal"]').first.click(timeout=60_000)
            terminal = page.locator(".jp-Terminal .xterm").first
            terminal.wait_for(timeout=30_000)
            terminal.click()
            time.sleep(1)   # the shell's prompt
            page.keyboard.type(f"{COMMAND} > {out} 2>&1; echo exit status $? >> {out}")
            page.keyboard.press("Enter")
            text = _report_of(out)
            page.screenshot(path=str(tmp_path / "lab_terminal.png"))
        finally:
            browser.close()
    _assert_report(text)
