"""nbgrader's Execute step, with kernels forked from a warm server (`kernel_forkserver`).

    c.Autograde.autograde_preprocessors = autograde_preprocessors()   (in `course.config`)

`ForkedExecute` is nbgrader's `Execute` (same settings: `c.Execute.timeout`, `extra_arguments`)
whose kernel manager launches the kernel through the fork server instead of `Popen`. Everything
else about the kernel is jupyter_client's own: the connection file, the IPC sockets, interrupting
a cell that runs past the timeout (SIGINT to the kernel's process group), killing it, noticing that
it died. The server is started on the first launch, with that launch's environment, and reused by
every later one in this process with the same environment and the same Python. Any other launch
(another kernel, a redirected stream, another environment, `PGCOURSE_FORKED_KERNELS=0`, a server
that cannot start) is a plain `Popen`, as nbgrader does it.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute

from pgcourse.grading.kernel_forkserver import ForkServer, ForkServerError, shared_env

SWITCH = "PGCOURSE_FORKED_KERNELS"   # "0": launch every grading kernel with Popen
_server: ForkServer | None = None
_cannot_start: list[dict[str, str]] = []   # environments a server failed to start with (not retried)


@atexit.register
def close_server() -> None:
    global _server
    if _server is not None:
        _server.close()
        _server = None


def forkable(cmd: list[str], kwargs: dict[str, Any]) -> bool:
    """Whether the fork server can make this launch: on Linux (fork is unsafe on macOS and absent on
    Windows), an IPython kernel of this Python, with the streams not redirected."""
    return (sys.platform.startswith("linux") and os.environ.get(SWITCH, "1") != "0"
            and len(cmd) >= 3 and cmd[1:3] == ["-m", "ipykernel_launcher"]
            and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable)
            and not kwargs.get("independent")
            and all(kwargs.get(stream) is None for stream in ("stdin", "stdout", "stderr")))


def server_for(env: dict[str, str]) -> ForkServer:
    """The process's fork server for this environment (started, or restarted for a new environment)."""
    global _server
    if _server is not None and not _server.serves(env):
        close_server()
    if _server is None:
        if shared_env(env) in _cannot_start:
            raise ForkServerError("the fork server could not start with this environment earlier in this process")
        try:
            _server = ForkServer(env)
        except (ForkServerError, OSError):
            _cannot_start.append(shared_env(env))
            raise
    return _server


class ForkedProcess:
    """`Popen`'s interface to a kernel that the fork server started (its child, not ours)."""

    stdin = stdout = stderr = None

    def __init__(self, server: ForkServer, pid: int):
        self.server, self.pid, self.returncode = server, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.server.returncode(self.pid)
            except ForkServerError:   # the server has gone, and it kills its kernels when it goes
                self.returncode = -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:   # it exited meanwhile (Popen.send_signal ignores this too)
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkedKernelProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, launching through the fork server where it can."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        if not forkable(cmd, kwargs):
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        env["JPY_PARENT_PID"] = str(os.getpid())   # as jupyter_client's launch_kernel sets it
        try:
            server = server_for(env)
            pid = server.launch(cmd[3:], str(kwargs.get("cwd") or os.getcwd()), env)
        except (ForkServerError, OSError) as err:
            self.log.warning("kernel fork server unavailable (%s): starting the kernel with Popen", err)
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ForkedProcess(server, pid)
        self.pid = self.pgid = pid   # the child called setsid() before the server answered
        self.cwd = kwargs.get("cwd", pathlib.Path.cwd())
        return self.connection_info


class ForkedKernelManager(AsyncKernelManager):
    """AsyncKernelManager (what nbgrader's Execute uses) with the forking provisioner."""

    async def _async_pre_start_kernel(self, **kw: Any):
        self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
        if self.provisioner is None:
            self.provisioner = ForkedKernelProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                       parent=self)
        return await super()._async_pre_start_kernel(**kw)


class ForkedExecute(Execute):
    """nbgrader's Execute preprocessor, with kernels from the fork server."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("kernel_manager_class", ForkedKernelManager)
        super().__init__(*args, **kwargs)


def autograde_preprocessors() -> list[type]:
    """nbgrader's autograde steps, with ForkedExecute in Execute's place."""
    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    return [ForkedExecute if step is Execute else step for step in steps]
