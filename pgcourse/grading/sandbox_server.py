"""What the grading kernels' fork server does inside the sandbox (`sandbox`), and only there.

    become_unprivileged(uid)      first thing: the sandbox's uid (as root), no new privileges, not dumpable
    end_everything_else(reap)     between kernels: every other process of the PID namespace ends,
                                  /sandbox, the POSIX and System V IPC objects are emptied
    prepare_kernel(request)       in the forked child: its files, connection file, limits; its argv

The server (`kernel_forkserver.serve`) runs one kernel at a time, so that between two submissions
nothing of the first is left: no process (kill(-1) in the sandbox's own PID namespace reaches every
process but the namespace's init and the caller, forks included) and no file.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import time

from pgcourse.grading import sandbox


def become_unprivileged(uid: int | None) -> None:
    """In the sandbox, before anything else: drop to the sandbox's uid (as root), no new privileges
    (set-uid binaries stay plain), and not dumpable (kernels, the same uid, cannot ptrace this server)."""
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 4, 38
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl")


def _others_alive() -> list[int]:
    """Processes of this PID namespace other than its init (1) and this server, not yet zombies."""
    me, alive = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, me):
            try:
                with open(f"/proc/{name}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                        alive.append(int(name))
            except OSError:
                pass
    return alive


def _empty(folder: str) -> None:
    """Remove everything in `folder` (the sandbox's files are all this server's uid's)."""
    def writable_again(function, path, _):
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        function(path)

    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            os.chmod(entry.path, 0o700)
            shutil.rmtree(entry.path, onerror=writable_again)
        else:
            os.unlink(entry.path)


def end_everything_else(reap) -> None:
    """Sandboxed, between kernels: SIGKILL every process of the sandbox but this server, until none
    is left (kill(-1) signals all of them at once, forks included), then empty every writable place."""
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reap()
        if not _others_alive():
            break
        time.sleep(0.005)
    else:
        raise OSError("processes of the previous kernel survived SIGKILL")
    _empty(sandbox.ROOT)
    if os.path.isdir("/dev/mqueue"):
        _empty("/dev/mqueue")
    subprocess.run(["ipcrm", "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)   # System V IPC
    reap()
    make_folders()


def make_folders() -> None:
    for folder in (sandbox.WORK, sandbox.RUN, sandbox.HOME, sandbox.TMP):
        os.makedirs(folder, mode=0o700, exist_ok=True)


def prepare_kernel(request: dict) -> list[str]:
    """In the forked child, sandboxed: the kernel's files, connection file and limits; its argv."""
    for name, data in request.get("files", {}).items():
        target = os.path.normpath(os.path.join(sandbox.WORK, name))
        if not target.startswith(sandbox.WORK + "/"):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(base64.b64decode(data))
    connection = dict(request["connection"])
    connection["ip"] = f"{sandbox.RUN}/kernel"
    connection_file = f"{sandbox.RUN}/kernel.json"
    with open(connection_file, "w") as out:
        json.dump(connection, out)
    argv = list(request["launch"])
    if "-f" in argv:
        argv[argv.index("-f") + 1] = connection_file
    # the course's own modules first: nothing handed in beside the notebook shadows them
    argv.append("--InteractiveShellApp.ignore_cwd=True")
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)   # PR_SET_DUMPABLE: the kernel's /proc files are its own again
    limits = request["limits"]
    for which, value in ((resource.RLIMIT_AS, limits["memory_bytes"]), (resource.RLIMIT_NPROC, limits["processes"]),
                         (resource.RLIMIT_FSIZE, limits["file_bytes"]), (resource.RLIMIT_NOFILE, limits["open_files"]),
                         (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))
    return argv
