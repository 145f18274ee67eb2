"""A real JupyterHub for the tests: real Unix users, the class's own config, loopback only.

`ClassHub` creates one Unix account per person (homes 0700, as on a shared server), runs
`deploy/jupyterhub/setup_class.py` into a temporary directory (config, exchange, term course),
and starts JupyterHub with `deploy/jupyterhub/jupyterhub_config.py` loaded unchanged, overriding
only what a test must: the dummy authenticator, free ports on 127.0.0.1, the database and a
service token for the test to drive the hub's REST API. The hub runs as root and its
local-process spawner starts each person's server as their own user, so the exchange's
permissions are the real ones. Everything is stopped and removed at the end.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "jupyterhub"
BIN = Path(sys.executable).parent
PASSWORD = "pgcourse-test-" + secrets.token_hex(4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_requirements() -> str | None:
    """Why this machine cannot run a real multi-user hub, or None."""
    if os.geteuid() != 0:
        return "needs root: the hub starts each person's server as their own Unix user"
    for tool in ("configurable-http-proxy", "useradd", "userdel"):
        if not shutil.which(tool):
            return f"{tool} is not installed (.ci/run installs it)"
    if not (BIN / "jupyterhub").exists():
        return "jupyterhub is not installed (pip install -e '.[dev]')"
    return None


def wait_for(condition, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


class ClassHub:
    def __init__(self, instructor: str, students: list[str]):
        self.instructor, self.students = instructor, students
        self.base = Path(tempfile.mkdtemp(prefix="pgcourse-hub-"))
        self.base.chmod(0o755)  # the servers, as their users, read the config below it
        self.config_dir = self.base / "etc-jupyter"
        self.exchange = self.base / "exchange"
        self.class_file = self.config_dir / "pgcourse_class.json"
        # fixed for the hub's life, restarts included: the servers that outlive a restart keep
        # talking to the hub's API at the address they were started with
        self.port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(32)
        self.log_path = self.base / "jupyterhub.log"
        self.process: subprocess.Popen | None = None
        self.created_users: list[str] = []
        self.reopened: list[tuple[Path, int]] = []

    # --- accounts and class setup -------------------------------------------------------------

    def create_users(self) -> None:
        homes = self.base / "home"
        homes.mkdir(mode=0o755)
        for name in [self.instructor, *self.students]:
            try:
                stale = pwd.getpwnam(name)
            except KeyError:
                stale = None
            if stale and Path(stale.pw_dir).parent.parent.name.startswith("pgcourse-hub-"):
                subprocess.run(["userdel", "--remove", name], capture_output=True)  # a killed run's
            elif stale:
                raise RuntimeError(f"Unix user {name} already exists and is not a test's: not touching it")
            subprocess.run(["useradd", "--create-home", "--home-dir", str(homes / name),
                            "--shell", "/bin/bash", name], check=True, capture_output=True)
            self.created_users.append(name)
            (homes / name).chmod(0o700)

    def open_python_to_users(self) -> None:
        """Let the class's users reach this Python and checkout: o+x (traverse, never list) on
        each directory above them that lacks it, restored by close().

        A CI machine keeps Python under /root (pyenv), mode 0700; a real deployment installs the
        single-user environment in a system directory (/opt, /usr/local) and needs none of this.
        """
        for target in {Path(os.path.realpath(sys.executable)), Path(sys.prefix), ROOT}:
            for folder in reversed(target.parents):
                mode = folder.stat().st_mode
                if not mode & stat.S_IXOTH:
                    self.reopened.append((folder, stat.S_IMODE(mode)))
                    folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

    def setup_class(self) -> None:
        done = subprocess.run([sys.executable, str(DEPLOY / "setup_class.py"), "--no-install",
                               "--instructor", self.instructor, "--students", *self.students,
                               "--config-dir", str(self.config_dir), "--exchange", str(self.exchange)],
                              capture_output=True, text=True, env=self.env(), timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"setup_class.py failed:\n{done.stdout}{done.stderr}")

    @property
    def course_dir(self) -> Path:
        return Path(json.loads(self.class_file.read_text())["course_dir"])

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def env(self, **extra: str) -> dict[str, str]:
        path = os.pathsep.join([str(BIN), os.environ.get("PATH", "/usr/bin:/bin")])
        return {**os.environ, "PATH": path, "PGCOURSE_CLASS": str(self.class_file), **extra}

    def run_as(self, name: str, *cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """A command in `name`'s terminal on the hub: their uid, home and the class's config."""
        user = pwd.getpwnam(name)
        role = "instructor" if name == self.instructor else "student"
        env = self.env(HOME=user.pw_dir, USER=name, JUPYTERHUB_USER=name,
                       JUPYTER_CONFIG_PATH=os.pathsep.join([str(self.config_dir / "roles" / role),
                                                            str(self.config_dir)]))
        return subprocess.run(list(cmd), cwd=cwd or user.pw_dir, env=env, user=user.pw_uid,
                              group=user.pw_gid, extra_groups=[], capture_output=True, text=True,
                              timeout=600)

    # --- the hub ------------------------------------------------------------------------------

    def write_test_config(self) -> Path:
        path = self.base / "jupyterhub_test_config.py"
        path.write_text(f"""
c = get_config()
load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {PASSWORD!r}
c.JupyterHub.bind_url = {self.url!r}
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{self.hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {str(self.base / 'proxy.pid')!r}
c.JupyterHub.db_url = "sqlite:///{self.base / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(self.base / 'cookie_secret')!r}
c.JupyterHub.services = [{{"name": "pgcourse-test", "api_token": {self.token!r}}}]
c.JupyterHub.load_roles = [{{"name": "pgcourse-test", "services": ["pgcourse-test"],
                            "scopes": ["admin:users", "admin:servers", "tokens", "groups"]}}]
""")
        return path

    def start(self) -> None:
        config = self.write_test_config()
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(config)], cwd=self.base,
                                        env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        wait_for(self._up, 90, f"JupyterHub on {self.url} (log: {self.log_path})")

    def _up(self) -> bool:
        if self.process and self.process.poll() is not None:
            raise RuntimeError(f"JupyterHub exited:\n{self.log_path.read_text()[-4000:]}")
        try:
            return requests.get(f"{self.url}/hub/api", timeout=2).ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        """SIGTERM, as systemd would: the hub stops the servers and the proxy it started."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop_servers(self) -> None:
        """Stop every server (the hub itself leaves them running: cleanup_servers = False)."""
        if self.process is None or self.process.poll() is not None:
            return

        def delete(name: str) -> None:
            try:   # the hub answers once the server has stopped (seconds): stop them all at once
                self.api("DELETE", f"/users/{name}/server")
            except requests.RequestException:
                pass  # none running
        with ThreadPoolExecutor(max_workers=len(self.created_users) or 1) as pool:
            list(pool.map(delete, self.created_users))
        for name in self.created_users:
            try:
                wait_for(lambda: not self.api("GET", f"/users/{name}").json()["servers"], 60,
                         f"{name}'s server to stop")
            except (requests.RequestException, TimeoutError):
                pass  # close() kills what is left

    def close(self, keep_log: Path | None = None) -> None:
        self.stop_servers()
        self.stop()
        if keep_log is not None and self.log_path.exists():
            keep_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.log_path, keep_log)  # the hub's and every server's log, for a failure
        for name in self.created_users:
            left = subprocess.run(["ps", "-o", "pid=", "-u", name], capture_output=True, text=True)
            for pid in left.stdout.split():  # a kernel its server left behind: started by this test
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        for folder, mode in reversed(self.reopened):
            folder.chmod(mode)
        self.reopened.clear()

    # --- REST ---------------------------------------------------------------------------------

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        r = requests.request(method, f"{self.url}/hub/api{path}", timeout=30,
                             headers={"Authorization": f"token {token or self.token}"}, **kwargs)
        r.raise_for_status()
        return r

    def spawn(self, *names: str) -> None:
        """Start these users' servers together, as a class logging in at once, and wait until every
        one is ready. (The hub answers a POST only when the server is up or after its
        slow_spawn_timeout, 10 s: one at a time, the servers would start one after the other.)"""
        with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
            list(pool.map(lambda name: self.api("POST", f"/users/{name}/server"), names))
        for name in names:
            wait_for(lambda: self.api("GET", f"/users/{name}").json()["servers"].get("", {}).get("ready"),
                     300, f"{name}'s server (log: {self.log_path})", interval=1)

    def user_token(self, name: str) -> str:
        return self.api("POST", f"/users/{name}/tokens",
                        json={"note": "pgcourse test", "expires_in": 3600}).json()["token"]


class Student:
    """What a person's browser does, through their own server's REST API, with their own token."""

    def __init__(self, hub: ClassHub, name: str):
        self.hub, self.name = hub, name
        self.token = hub.user_token(name)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        r = requests.request(method, f"{self.hub.url}/user/{self.name}{path}", timeout=300,
                             headers={"Authorization": f"token {self.token}"}, **kwargs)
        r.raise_for_status()
        return r

    def assignments(self, course_id: str = "pgcourse") -> list[dict]:
        body = self.request("GET", "/assignments", params={"course_id": course_id}).json()
        assert body["success"], body
        return body["value"]

    def act(self, action: str, assignment: str, course_id: str = "pgcourse") -> dict:
        """POST /assignments/{fetch,submit,fetch_feedback}, as the Assignments tab's buttons do."""
        return self.request("POST", f"/assignments/{action}",
                            json={"course_id": course_id, "assignment_id": assignment}).json()

    def get_file(self, path: str) -> dict:
        return self.request("GET", f"/api/contents/{path}", params={"content": 1}).json()

    def put_notebook(self, path: str, nb: dict) -> None:
        self.request("PUT", f"/api/contents/{path}", json={"type": "notebook", "format": "json",
                                                           "content": nb})

    def delete(self, path: str) -> None:
        self.request("DELETE", f"/api/contents/{path}")
