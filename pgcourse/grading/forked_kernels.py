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

While grading, the kernels are sandboxed (`SandboxedExecute`, chosen by `autograde_preprocessors`
unless PGCOURSE_SANDBOX=0): a second server runs inside the grading sandbox (`sandbox`), one kernel
at a time. The kernel's sockets are in the sandbox (reached here through /proc/PID/root), its
folder holds a copy of the submission's regular files, and when it ends (or runs past the
submission's wall-clock limit) every process it started ends and its files are gone. Nothing there
falls back to an unsandboxed kernel: a sandbox that cannot be made is an error.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute
from traitlets import Integer

from pgcourse.grading import sandbox
from pgcourse.grading.kernel_forkserver import ForkServer, ForkServerError, shared_env
from pgcourse.grading.trusted_tests import TrustedTests

SWITCH = "PGCOURSE_FORKED_KERNELS"   # "0": launch every grading kernel with Popen (sandboxed: its own server)
FILES_CAP_BYTES = 64 << 20           # the submission's files copied into a sandboxed kernel's folder, in all
_server: ForkServer | None = None
_sandboxed_server: ForkServer | None = None
_cannot_start: list[dict[str, str]] = []   # environments a server failed to start with (not retried)
events: list[str] = []   # what the sandbox did to this process's kernels ("over time: …"), for grade_task


@atexit.register
def close_server() -> None:
    global _server, _sandboxed_server
    for server in (_server, _sandboxed_server):
        if server is not None:
            server.close()
    _server = _sandboxed_server = None


def sandboxed_server_for(env: dict[str, str]) -> ForkServer:
    """The process's sandboxed fork server for this environment (started on first use)."""
    global _sandboxed_server
    if _sandboxed_server is not None and not _sandboxed_server.serves(env):
        _sandboxed_server.close()
        _sandboxed_server = None
    if _sandboxed_server is None:
        sandbox.require()
        _sandboxed_server = ForkServer(env, sandbox.LIMITS)
    return _sandboxed_server


def submission_files(folder: pathlib.Path, cap: int = FILES_CAP_BYTES) -> dict[str, bytes]:
    """The files under `folder` (the autograded folder) that a sandboxed kernel gets in its own: the
    submission's regular files, never a symlink (nor what it points to), never a notebook (the one
    being graded holds the restored hidden tests), at most `cap` bytes in all (the rest is left out)."""
    files, total = {}, 0
    for dirpath, _, names in os.walk(folder):   # os.walk does not enter a symlinked folder
        for name in sorted(names):
            path = pathlib.Path(dirpath) / name
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode) or name.endswith(".ipynb"):
                continue
            if total + info.st_size > cap:
                events.append(f"left out {path.relative_to(folder)}: the submission's files exceed {cap >> 20} MiB")
                continue
            files[str(path.relative_to(folder))] = path.read_bytes()
            total += info.st_size
    return files


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


class SandboxedKernelProvisioner(LocalProvisioner):
    """A grading kernel inside the sandbox, forked from the sandboxed server; never anywhere else."""

    submission_timeout = Integer(sandbox.LIMITS.submission_s, config=True,
                                 help="seconds for a whole notebook; then its kernel and all it started are stopped")
    server: ForkServer | None = None
    _own_server = False
    _timer: threading.Timer | None = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        env = dict(kwargs.get("env") or os.environ)
        try:
            if os.environ.get(SWITCH, "1") == "0":   # no warm server: one of its own, for this kernel only
                sandbox.require()
                self.server, self._own_server = ForkServer(env, sandbox.LIMITS), True
            else:
                self.server = sandboxed_server_for(env)
        except sandbox.SandboxUnavailable as err:
            raise RuntimeError(f"no grading sandbox: {err}") from None
        km.transport = "ipc"   # the kernel's sockets, in the sandbox's own /sandbox/run
        km.ip = f"{self.server.root}{sandbox.RUN}/kernel"
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        if not (len(cmd) >= 3 and cmd[1:3] == ["-m", "ipykernel_launcher"]
                and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable)):
            raise RuntimeError(f"a sandboxed grading kernel must be this Python's ipykernel, not {cmd[:3]}")
        env = dict(kwargs.get("env") or os.environ)
        env["JPY_PARENT_PID"] = str(os.getpid())
        connection = dict(self.connection_info)
        connection["key"] = connection["key"].decode() if isinstance(connection.get("key"), bytes) else connection.get("key")
        connection = {k: v for k, v in connection.items() if isinstance(v, (str, int, float, bool, type(None)))}
        files = submission_files(pathlib.Path(kwargs.get("cwd") or os.getcwd()))
        pid = self.server.launch(cmd[3:], sandbox.WORK, env, files=files, connection=connection)
        self.process = ForkedProcess(self.server, pid)
        self.pid = self.pgid = pid
        self.cwd = kwargs.get("cwd", pathlib.Path.cwd())
        self._timer = threading.Timer(self.submission_timeout, self._over_time)
        self._timer.daemon = True
        self._timer.start()
        return self.connection_info

    def _over_time(self) -> None:
        events.append(f"over time: the notebook ran past the {self.submission_timeout} s limit for a whole "
                      "submission, so its kernel was stopped")
        try:
            self.server.reset()
        except ForkServerError:
            pass

    async def cleanup(self, restart: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.server is not None:
            try:
                self.server.reset()   # every process the kernel started ends now, and its files go
            except ForkServerError:
                pass
            if self._own_server:
                self.server.close()
        await super().cleanup(restart)


class ForkedKernelManager(AsyncKernelManager):
    """AsyncKernelManager (what nbgrader's Execute uses) with the forking provisioner."""

    provisioner_class: type = ForkedKernelProvisioner

    async def _async_pre_start_kernel(self, **kw: Any):
        self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
        if self.provisioner is None:
            self.provisioner = self.provisioner_class(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                      parent=self)
        return await super()._async_pre_start_kernel(**kw)


class SandboxedKernelManager(ForkedKernelManager):
    provisioner_class = SandboxedKernelProvisioner


class ForkedExecute(TrustedTests, Execute):
    """nbgrader's Execute preprocessor, with kernels from the fork server; graded test cells run here."""

    benchmark_baseline = True   # unsandboxed only: PGCOURSE_TESTS_IN_KERNEL=1 is the benchmark's baseline

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("kernel_manager_class", ForkedKernelManager)
        super().__init__(*args, **kwargs)


class SandboxedExecute(TrustedTests, Execute):
    """nbgrader's Execute preprocessor, with kernels in the grading sandbox; graded test cells run here."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)


def autograde_preprocessors(sandboxed: bool | None = None) -> list[type]:
    """nbgrader's autograde steps, with SandboxedExecute in Execute's place (ForkedExecute, unsandboxed,
    only when `sandboxed` is False, or PGCOURSE_SANDBOX=0 when it is None)."""
    sandboxed = sandbox.enabled() if sandboxed is None else sandboxed
    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    return [(SandboxedExecute if sandboxed else ForkedExecute) if step is Execute else step for step in steps]
