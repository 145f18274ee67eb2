"""Grading kernels forked from the warm server (pgcourse.grading.kernel_forkserver, forked_kernels).

The fork must be a pure speed change: every kernel a new process of its own, with the launch's
environment and folder, nothing carried over from another submission, and jupyter_client's
interrupt, kill and death detection working as for a kernel it started itself. The grading tests
(test_grading.py, test_course.py, test_parallel_grading.py) grade through it and hold it to the
scores that Popen kernels gave; here each property is checked on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute

import submissions as S
from pgcourse.grading import course, forked_kernels
from pgcourse.grading.forked_kernels import (ForkedExecute, ForkedKernelManager, ForkedProcess, SandboxedExecute,
                                             forkable)
from pgcourse.grading.kernel_forkserver import PREIMPORTED, ForkServerError


class Kernel:
    """A kernel started by a kernel manager class; `run(code)` returns what it printed."""

    def __init__(self, sockets: Path, manager=ForkedKernelManager, cwd: Path | None = None, env=None):
        self.km = manager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))
        self.cwd, self.env = cwd, env

    async def __aenter__(self):
        kw = {"cwd": str(self.cwd)} if self.cwd else {}
        if self.env is not None:
            kw["env"] = self.env
        await self.km.start_kernel(**kw)
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=60)
        return self

    async def run(self, code: str, timeout: float = 30) -> tuple[str, dict]:
        out = []
        reply = await self.kc.execute_interactive(
            code, timeout=timeout, output_hook=lambda m: out.append(m["content"].get("text", ""))
            if m["msg_type"] == "stream" else None)
        return "".join(out), reply["content"]

    async def __aexit__(self, *exc):
        self.kc.stop_channels()
        await self.km.shutdown_kernel(now=True)


def facts(kernel: Kernel) -> dict:
    code = ("import json, os, sys\nprint(json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'pgid': os.getpgid(0), "
            "'cwd': os.getcwd(), 'preimported': [m for m in %r if m in sys.modules], "
            "'test': os.environ.get('PYTEST_CURRENT_TEST'), 'marker': os.environ.get('PGCOURSE_TEST_MARKER')}))"
            % (PREIMPORTED,))
    return json.loads(asyncio.run(_run(kernel, code))[0])


async def _run(kernel: Kernel, code: str):
    async with kernel as k:
        return await k.run(code)


@pytest.fixture
def sockets(tmp_path):
    folder = tmp_path / "sockets"
    folder.mkdir()
    return folder


def test_the_course_config_selects_sandboxed_execute_for_pgcourse_grade_and_nbgraders_own_command(tmp_path,
                                                                                                  monkeypatch):
    # first in this file: init_course puts the venv's bin/ on PATH once per process, which is a new
    # environment for the fork server
    root = tmp_path / "course"
    course.init_course(root, S.DRILL_SOLUTIONS, [S.DRILL])
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    for cfg in (course.config(root), course.read_config_file(root)):   # `pgcourse grade`; nbgrader_config.py
        steps = cfg.Autograde.autograde_preprocessors
        assert SandboxedExecute in steps and Execute not in steps and ForkedExecute not in steps
        assert steps == [SandboxedExecute if s is Execute else s for s in default]
        assert cfg.Execute.shutdown_kernel == "immediate"   # course.KERNEL_SHUTDOWN, in both
    # the explicit opt-out: --no-sandbox for pgcourse grade, PGCOURSE_SANDBOX=0 for nbgrader's own commands
    assert course.config(root, sandboxed=False).Autograde.autograde_preprocessors == \
        [ForkedExecute if s is Execute else s for s in default]
    monkeypatch.setenv("PGCOURSE_SANDBOX", "0")
    assert ForkedExecute in course.read_config_file(root).Autograde.autograde_preprocessors


def test_each_kernel_is_a_new_process_forked_from_the_server_with_its_own_env_and_folder(sockets, tmp_path):
    # PYTEST_CURRENT_TEST differs from kernel to kernel (kernel_forkserver.PER_KERNEL_ENV): one server
    first = facts(Kernel(sockets, cwd=tmp_path, env={**os.environ, "PYTEST_CURRENT_TEST": "one"}))
    second = facts(Kernel(sockets, env={**os.environ, "PYTEST_CURRENT_TEST": "two"}))
    server = forked_kernels._server
    assert server is not None and first["ppid"] == second["ppid"] == server.pid != os.getpid()
    assert first["pid"] != second["pid"]
    assert first["pid"] == first["pgid"], "the kernel must lead its own process group (interrupts reach it alone)"
    assert set(first["preimported"]) == set(PREIMPORTED)   # imported before the kernel started
    assert first["cwd"] == str(tmp_path) and second["cwd"] == os.getcwd()
    assert (first["test"], second["test"]) == ("one", "two")


def test_nothing_carries_over_between_kernels(sockets):
    async def go():
        async with Kernel(sockets) as k:
            _, reply = await k.run("import numpy\nnumpy.LEFT_BY_THE_LAST_STUDENT = 1\nx = 42")
            assert reply["status"] == "ok"
            draws_a, _ = await k.run("print(numpy.random.rand(), __import__('random').random())")
        async with Kernel(sockets) as k:
            out, _ = await k.run("import numpy\nprint(hasattr(numpy, 'LEFT_BY_THE_LAST_STUDENT'), 'x' in dir())")
            draws_b, _ = await k.run("print(numpy.random.rand(), __import__('random').random())")
            _, reply = await k.run("torch.zeros(1)")   # imported by the server, never by this notebook
        return out, draws_a, draws_b, reply
    out, draws_a, draws_b, reply = asyncio.run(go())
    assert out.split() == ["False", "False"]
    assert draws_a != draws_b, "forked kernels must not share the server's random state"
    assert reply["status"] == "error" and reply["ename"] == "NameError"


def test_an_interrupt_stops_a_runaway_cell_and_the_kernel_lives_on(sockets):
    async def go():
        async with Kernel(sockets) as k:
            assert isinstance(k.km.provisioner.process, ForkedProcess)
            k.kc.execute("print('looping', flush=True)\nwhile True: pass")
            while True:   # interrupt once the loop runs, not while the kernel is still getting to it
                msg = await k.kc.get_iopub_msg(timeout=30)
                if msg["msg_type"] == "stream" and "looping" in msg["content"]["text"]:
                    break
            await asyncio.sleep(0.2)
            await k.km.interrupt_kernel()
            reply = await k.kc.get_shell_msg(timeout=10)
            out, _ = await k.run("print('still here')")
            return reply["content"], out, await k.km.is_alive()
    reply, out, alive = asyncio.run(go())
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert out.strip() == "still here" and alive


def test_a_kernel_that_exits_is_seen_dead_with_its_status(sockets):
    async def go():
        async with Kernel(sockets) as k:
            k.kc.execute("import os; os._exit(3)")
            for _ in range(100):
                if not await k.km.is_alive():
                    break
                await asyncio.sleep(0.05)
            return await k.km.is_alive(), k.km.provisioner.process.returncode
    alive, status = asyncio.run(go())
    assert not alive and status == 3


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_signals_reach_a_forked_kernel(sockets):
    async def go():
        async with Kernel(sockets) as k:
            process = k.km.provisioner.process
            process.send_signal(signal.SIGTERM)
            return process.wait(timeout=10)
    assert asyncio.run(go()) == -signal.SIGTERM


def test_the_switch_and_unforkable_launches_use_popen(sockets, monkeypatch):
    cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "k.json"]
    assert forkable(cmd, {})
    assert not forkable(["/usr/bin/python3.9", *cmd[1:]], {})   # another Python
    assert not forkable([sys.executable, "-m", "other_kernel", "-f", "k.json"], {})
    assert not forkable(cmd, {"stdout": 1})                      # a redirected stream
    assert not forkable(cmd, {"independent": True})
    monkeypatch.setenv(forked_kernels.SWITCH, "0")
    assert not forkable(cmd, {})
    started = facts(Kernel(sockets, env=dict(os.environ)))
    assert started["ppid"] == os.getpid()                        # a plain Popen child of this process


def test_a_server_serves_only_its_own_environment(sockets):
    facts(Kernel(sockets))   # make sure this process has a server
    server = forked_kernels._server
    assert server.serves({**server.env, "PYTEST_CURRENT_TEST": "another test", "JPY_PARENT_PID": "1"})
    # any other difference could change what an import did: forked_kernels.server_for starts another server
    assert not server.serves({**server.env, "PGCOURSE_TEST_MARKER": "other"})
    assert not server.serves({k: v for k, v in server.env.items() if k != "HOME"})
    with pytest.raises(ForkServerError, match="another environment"):
        server.launch(["-f", "k.json"], os.getcwd(), {**server.env, "OMP_NUM_THREADS": "7"})


def test_closing_the_server_kills_its_kernels(sockets):
    async def go():
        async with Kernel(sockets) as k:
            process = k.km.provisioner.process
            forked_kernels.close_server()
            return process.poll(), await k.km.is_alive(), _exists(process.pid)
    status, alive, exists = asyncio.run(go())
    assert status is not None and not alive and not exists
