"""Grading kernels forked from a process that has already imported the heavy libraries.

Every graded notebook starts a fresh kernel, and a fresh kernel spends most of its first seconds
importing (measured on this project's 2-core machines): torch 1.6–3 s, `torch._dynamo` (pulled
in by the first `torch.optim` step) 1.5–3 s, matplotlib 0.7 s, IPython and ipykernel 0.5 s. Those
are the same seconds for every one of a class's submissions. A fork server pays them once per
grading process: it imports `PREIMPORTED`, then forks one child per kernel. Each child is a new
process, so nothing a student's code does reaches another submission; it starts with those
modules in `sys.modules` (names a notebook has not imported are still undefined in it) and runs
`ipykernel_launcher` exactly as the kernel spec's command would. This is the pattern of the
standard library's multiprocessing "forkserver" start method, applied to Jupyter kernels (Linux
only: `forked_kernels.forkable`).

    server = ForkServer(env)                 started with the kernels' environment
    server.serves(env)                       whether a kernel with this environment may be forked from it
    pid = server.launch(argv, cwd, env)      argv: the kernel command after `python -m ipykernel_launcher`
    server.returncode(pid)                   None while the kernel runs
    server.close()                           kills the kernels still running, stops the server

    server = ForkServer(env, limits)         the same, inside the grading sandbox (`sandbox`):
    pid = server.launch(argv, cwd, env, files=…, connection=…)
                                             one kernel at a time, in /sandbox/work with those files
    server.reset()                           ends every process but the server, empties /sandbox
    server.root                              /proc/PID/root: the sandbox's files as this process sees them

The server is `serve()` in a new Python process. It reads one JSON request per line from a private
socket pair (no path another user could connect to) and answers one line; it reaps its children (SIGCHLD) and keeps their exit statuses, since the grading
process is not their parent and cannot `waitpid` them. It exits, killing its kernels, when the
grading process closes the socket or dies. Only the standard library is imported here: the grading
side (`pgcourse.grading.forked_kernels`) plugs this into jupyter_client.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

# What a grading kernel of this course imports anyway, slowest first.
PREIMPORTED = ("torch", "torch._dynamo", "matplotlib.pyplot", "matplotlib_inline.backend_inline", "numpy",
               "IPython", "ipykernel.kernelapp")
START_TIMEOUT_S = 120
# Variables that differ between kernels of one grading process and that no module in PREIMPORTED
# reads while it is imported; the child gets the launch's own values. Any other difference needs
# a server started with that environment.
PER_KERNEL_ENV = ("JPY_PARENT_PID", "JPY_SESSION_NAME", "PYTEST_CURRENT_TEST", "PGCOURSE_FORKED_KERNELS")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class ForkServerError(RuntimeError):
    pass


class ForkServer:
    """A fork server (a child of this process) and the socket to it; sandboxed when given `limits`."""

    def __init__(self, env: dict[str, str], limits: "sandbox.Limits | None" = None):
        self.limits = limits
        self._inner: dict[int, int] = {}   # sandboxed: a kernel's pid here → its pid inside
        ours, theirs = socket.socketpair()
        self._lock = threading.Lock()
        fds = [theirs.fileno()]
        if limits is None:
            self.env = shared_env(env)
            argv = [sys.executable, "-c", f"from pgcourse.grading.kernel_forkserver import serve; serve({fds[0]})"]
            popen = dict(env=env, stdin=subprocess.DEVNULL)
            info_read = None
        else:
            from pgcourse.grading import sandbox
            env = sandbox.kernel_env(env)
            self.env = shared_env(env)
            uid = sandbox.sandbox_uid() if sandbox.as_root() else None
            info_read, info_write = os.pipe()
            code = (f"from pgcourse.grading.kernel_forkserver import serve; "
                    f"serve({fds[0]}, sandboxed=True, drop_to={uid!r})")
            argv, data_fds = sandbox.command([sys.executable, "-c", code], env, info_fd=info_write)
            fds += [info_write, *data_fds]
            # the kernels' own stray output (not their cells'): nowhere a daemon could hold open
            quiet = subprocess.DEVNULL if os.environ.get("PGCOURSE_SANDBOX_DEBUG") != "1" else None
            popen = dict(stdin=subprocess.DEVNULL, stdout=quiet, stderr=quiet)
        try:
            self._process = subprocess.Popen(argv, pass_fds=fds, start_new_session=True, **popen)
        finally:
            for fd in fds[1:]:
                os.close(fd)
        theirs.close()
        ours.settimeout(START_TIMEOUT_S)
        self._socket = ours
        self._file = ours.makefile("rwb")
        try:
            if info_read is not None:   # bwrap writes {"child-pid": N}: the sandbox's pid 1 as we see it
                with os.fdopen(info_read, "rb") as info:
                    self.root = f"/proc/{json.loads(info.read() or b'{}')['child-pid']}/root"
            self._call()   # the server answers once it has imported PREIMPORTED
        except (ForkServerError, KeyError, ValueError) as err:
            self._process.kill()
            self._process.wait()
            raise ForkServerError(f"the kernel fork server did not start ({err})") from None
        self.pid = self._process.pid
        ours.settimeout(None)

    def _call(self, **request) -> dict:
        with self._lock:
            try:
                if request:
                    self._file.write(json.dumps(request).encode() + b"\n")
                    self._file.flush()
                line = self._file.readline()
            except (OSError, ValueError) as err:   # a timeout; ValueError: the socket was closed by close()
                raise ForkServerError(f"the kernel fork server stopped ({err})") from None
        if not line:
            raise ForkServerError(f"the kernel fork server exited (status {self._process.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise ForkServerError(reply["error"])
        return reply

    def serves(self, env: dict[str, str]) -> bool:
        if self.limits is not None:
            from pgcourse.grading import sandbox
            env = sandbox.kernel_env(env)
        return self._process.poll() is None and shared_env(env) == self.env

    def launch(self, argv: list[str], cwd: str, env: dict[str, str], files: dict[str, bytes] | None = None,
               connection: dict | None = None) -> int:
        """Fork a kernel running `python -m ipykernel_launcher ARGV` in `cwd` with `env`; its pid (its own session).

        Sandboxed, the kernel runs in /sandbox/work holding `files`, with the connection file
        `connection` (its socket paths as the sandbox sees them), after every earlier process of
        the sandbox has ended and its files are gone; `cwd` is not used, and only the sandbox's
        allowed variables of `env` reach it. The pid is the kernel's as this process sees it.
        """
        if not self.serves(env):
            raise ForkServerError("this fork server was started with another environment")
        if self.limits is None:
            return self._call(launch=list(argv), cwd=str(cwd), env=dict(env))["pid"]
        from pgcourse.grading import sandbox
        encoded = {name: base64.b64encode(data).decode() for name, data in (files or {}).items()}
        inner = self._call(launch=list(argv), cwd=sandbox.WORK, env=sandbox.kernel_env(env), files=encoded,
                           connection=connection, limits=self.limits.as_dict())["pid"]
        pid = host_pid(self.root, inner)
        self._inner[pid] = inner
        return pid

    def reset(self) -> None:
        """Sandboxed: end every process but the server, and empty /sandbox (nothing left for the next kernel)."""
        self._call(reset=True)

    def returncode(self, pid: int) -> int | None:
        """The kernel's exit status, None while it runs (negative: killed by that signal, as Popen says)."""
        return self._call(poll=self._inner.get(pid, pid))["returncode"]

    def close(self) -> None:
        try:
            self._socket.close()
            self._file.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def host_pid(root: str, inner_pid: int, timeout: float = 10.0) -> int:
    """The pid, as this process sees it, of the sandbox's process `inner_pid` (from /proc's NSpid lines)."""
    sandbox_init = int(root.split("/")[2])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in _descendants(sandbox_init):
            try:
                with open(f"/proc/{pid}/status") as status:
                    nspid = next(line.split()[1:] for line in status if line.startswith("NSpid:"))
            except (OSError, StopIteration):
                continue
            if len(nspid) > 1 and int(nspid[-1]) == inner_pid:
                return pid
        time.sleep(0.01)
    raise ForkServerError(f"the sandboxed kernel {inner_pid} is not to be seen")


def _descendants(pid: int) -> list[int]:
    """The processes below `pid` (/proc/PID/task/PID/children; without it, every process in the same
    PID namespace as `pid`'s children, found by their namespace link)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as children:
                kids = [int(c) for c in children.read().split()]
        except FileNotFoundError:   # a kernel built without CONFIG_PROC_CHILDREN
            return _same_namespace_as_children_of(pid)
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


def _same_namespace_as_children_of(pid: int) -> list[int]:
    try:
        own = os.readlink(f"/proc/{pid}/ns/pid_for_children")
    except OSError:
        return []
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{name}/ns/pid") == own:
                found.append(int(name))
        except OSError:
            pass
    return found


def shared_env(env: dict[str, str]) -> dict[str, str]:
    """The part of a kernel's environment that its fork server must have been started with."""
    return {k: v for k, v in env.items() if k not in PER_KERNEL_ENV}


def _run_kernel(argv: list[str], cwd: str, env: dict[str, str]) -> None:
    """In the forked child: become the kernel (never returns)."""
    code = 1
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.argv = ["ipykernel_launcher", *argv]
        # A fresh interpreter seeds these from the OS; forked children would all share the server's.
        import random
        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        from ipykernel import kernelapp
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()   # the kernel's own clean-up (ipc socket files, history)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(fd: int, sandboxed: bool = False, drop_to: int | None = None) -> None:
    """The server's main loop (run by ForkServer in a new process; inside the sandbox when `sandboxed`)."""
    if sandboxed:
        from pgcourse.grading import sandbox_server
        sandbox_server.become_unprivileged(drop_to)
    conn = socket.socket(fileno=fd)
    channel = conn.makefile("rwb")
    if sys.path and sys.path[0] in ("", os.getcwd()):   # as ipykernel_launcher does; IPython adds it back
        del sys.path[0]
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)   # what ipykernel sets before matplotlib is imported
    running: set[int] = set()
    exited: dict[int, int] = {}

    def reap(*_) -> None:
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            running.discard(pid)
            exited[pid] = os.waitstatus_to_exitcode(wait_status)

    def reply(**message) -> None:
        channel.write(json.dumps(message).encode() + b"\n")
        channel.flush()

    try:
        for name in PREIMPORTED:
            __import__(name)
    except Exception as err:
        reply(error=f"cannot import {name}: {type(err).__name__}: {err}")
        return
    if threading.active_count() != 1:   # fork copies only the calling thread: refuse rather than break
        reply(error=f"threads started while importing: {[t.name for t in threading.enumerate()]}")
        return
    signal.signal(signal.SIGCHLD, reap)
    if sandboxed:
        sandbox_server.make_folders()
    reply(preimported=list(PREIMPORTED))
    try:
        for line in channel:
            request = json.loads(line)
            if "poll" in request:
                reap()
                pid = request["poll"]
                known = pid in running or pid in exited
                reply(returncode=exited.get(pid) if known else -1)
                continue
            if sandboxed and ("reset" in request or "launch" in request):
                try:
                    sandbox_server.end_everything_else(reap)   # one kernel at a time: nothing of the last is left
                except OSError as err:
                    reply(error=f"cannot clear the sandbox: {err}")
                    continue
                running.clear()
                if "reset" in request:
                    reply(reset=True)
                    continue
            ready_r, ready_w = os.pipe()
            # no reaping until the child is in `running`: its exit status cannot be lost or be another's
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                os.setsid()   # its own process group: an interrupt or a kill reaches the kernel and its children only
                os.close(ready_r)
                os.close(ready_w)
                conn.close()
                channel.close()
                argv = request["launch"]
                if sandboxed:
                    try:
                        argv = sandbox_server.prepare_kernel(request)
                    except BaseException:
                        traceback.print_exc()
                        os._exit(1)
                _run_kernel(argv, request["cwd"], request["env"])
            os.close(ready_w)
            os.read(ready_r, 1)   # returns once the child has its own session (then its pgid is its pid)
            os.close(ready_r)
            exited.pop(pid, None)   # a pid the system reused
            running.add(pid)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            reply(pid=pid)
    finally:   # the grading process closed the socket or died: its kernels have no one to talk to
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for pid in running:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
