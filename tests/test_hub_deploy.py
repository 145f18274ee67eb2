"""The deployment files agree with each other and with pyproject.toml (fast; no hub, no cluster).

What this machine cannot do is said where it matters: no Docker engine builds the image and no
Kubernetes cluster installs values.yaml; these checks are as far as they go here.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import yaml
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
CLASS_KEYS = {"course_id", "instructors", "students", "exchange", "course_dir", "python"}


def _pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [d for g in project["optional-dependencies"].values() for d in g]
    return dict(re.match(r"([A-Za-z0-9_.-]+)==(\S+)", s).groups() for s in specs)


def test_the_image_pins_what_pyproject_pins():
    dockerfile = (DEPLOY / "kubernetes" / "Dockerfile").read_text()
    pinned = dict(re.findall(r"\b([a-z][a-z0-9_.-]*)==([0-9][^\s\"']*)", dockerfile))
    assert {"torch", "jupyterhub", "nbgrader", "jupyterlab"} <= set(pinned)
    assert {name: _pins().get(name) for name in pinned} == pinned


def _instructions(dockerfile: str) -> list[tuple[str, list[str]]]:
    """(instruction, words) per Dockerfile instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", re.sub(r"^\s*#.*\n", "", dockerfile, flags=re.M))
    return [(line.split()[0].upper(), shlex.split(line)[1:]) for line in text.splitlines() if line.strip()]


def _copies(dockerfile: str) -> list[tuple[list[str], str]]:
    """(sources in the build context, destination) of each COPY/ADD from the context."""
    out = []
    for op, words in _instructions(dockerfile):
        if op in ("COPY", "ADD") and not any(w.startswith("--from") for w in words):
            args = [w for w in words if not w.startswith("--")]
            out.append((args[:-1], args[-1]))
    return out


def _copy_problems(dockerfile: str) -> list[str]:
    """What the image would get wrong from the checkout (the build context): a COPY source that
    does not exist, one that holds solutions/ (every student's pod runs this image: no layer may
    hold hidden tests), a checkout path that a RUN with the checkout bind-mounted reads and that
    does not exist, or an extra of the course it installs that pyproject.toml lacks."""
    problems = []
    solutions = (ROOT / "solutions").resolve()
    for sources, dest in _copies(dockerfile):
        for src in sources:
            matches = [m.resolve() for m in ROOT.glob(src.rstrip("/"))] if src.strip("./") else [ROOT]
            if not matches:
                problems.append(f"COPY {src}: not in the checkout")
            problems += [f"COPY {src} {dest}: puts solutions/ (hidden tests) in a layer"
                         for m in matches if solutions.is_relative_to(m)]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for op, words in _instructions(dockerfile):
        mounts = [dict(kv.split("=", 1) for kv in w.split("=", 1)[1].split(",") if "=" in kv)
                  for w in words if w.startswith("--mount=") and "type=bind" in w]
        command = " ".join(w for w in words if not w.startswith("--mount="))
        for mount in mounts:
            source, target = ROOT / mount.get("source", "."), mount["target"]
            for rel in re.findall(rf"{re.escape(target)}/([\w./-]+)", command):
                if not (source / rel).exists():
                    problems.append(f"RUN reads {target}/{rel}: not in the checkout")
            for wanted in re.findall(rf"{re.escape(target)}\[([\w,-]+)\]", command):
                problems += [f"RUN installs {target}[{x}]: pyproject.toml has no extra {x!r}"
                             for x in wanted.split(",") if x not in extras]
    return problems


def _in_image(path: str) -> Path:
    """The checkout folder the Dockerfile's COPY lines put at `path` in the image."""
    for sources, dest in _copies((DEPLOY / "kubernetes" / "Dockerfile").read_text()):
        for src in sources:
            if PurePosixPath(path).is_relative_to(dest):
                return ROOT / src / PurePosixPath(path).relative_to(dest)
    raise AssertionError(f"nothing in the image at {path}: no COPY puts it there")


def test_the_image_copies_files_that_exist_and_never_the_hidden_tests():
    dockerfile = (DEPLOY / "kubernetes" / "Dockerfile").read_text()
    assert _copies(dockerfile), "no COPY found: the parser no longer reads this Dockerfile"
    assert _copy_problems(dockerfile) == []


def test_values_yaml_parses_and_carries_a_complete_class_file():
    values = yaml.safe_load((DEPLOY / "kubernetes" / "values.yaml").read_text())
    klass = values["singleuser"]["extraFiles"]["pgcourse-class"]
    assert klass["mountPath"] == "/etc/jupyter/pgcourse_class.json"
    assert set(klass["data"]) == CLASS_KEYS
    mounts = {m["mountPath"] for m in values["singleuser"]["storage"]["extraVolumeMounts"]}
    assert klass["data"]["exchange"] in mounts  # every pod sees the same exchange


def test_values_yaml_extra_config_runs_and_gives_each_role_its_config():
    """Run hub.extraConfig as the hub would (with a traitlets `c`): the groups are the class
    file's roster, and the pre-spawn hook puts the role's config folder, then the class file's,
    on JUPYTER_CONFIG_PATH (as deploy/jupyterhub/jupyterhub_config.py does), folders the image has."""
    values = yaml.safe_load((DEPLOY / "kubernetes" / "values.yaml").read_text())
    klass = values["singleuser"]["extraFiles"]["pgcourse-class"]
    roster, config_dir = klass["data"], str(PurePosixPath(klass["mountPath"]).parent)
    c = Config()
    for name, snippet in values["hub"]["extraConfig"].items():
        exec(compile(snippet, f"values.yaml hub.extraConfig.{name}", "exec"), {"c": c})
    course = roster["course_id"]
    assert c.JupyterHub.load_groups == {f"nbgrader-{course}": {"users": roster["students"]},
                                        f"formgrade-{course}": {"users": roster["instructors"]}}
    allowed = set(values["hub"]["config"]["Authenticator"]["allowed_users"])
    assert allowed == set(roster["instructors"]) | set(roster["students"])
    for user, role in [(roster["instructors"][0], "instructor"), (roster["students"][0], "student")]:
        groups = [SimpleNamespace(name=g) for g, v in c.JupyterHub.load_groups.items() if user in v["users"]]
        spawner = SimpleNamespace(user=SimpleNamespace(name=user, groups=groups), environment={})
        c.KubeSpawner.pre_spawn_hook(spawner)
        path = spawner.environment["JUPYTER_CONFIG_PATH"].split(":")
        assert path == [f"{config_dir}/roles/{role}", config_dir], (user, path)
        assert (_in_image(path[0]) / "jupyter_server_config.json").is_file(), path[0]


def test_the_configs_read_only_keys_the_class_file_has():
    used = set()
    for path in [DEPLOY / "jupyterhub" / "jupyterhub_config.py", *(DEPLOY / "jupyterhub" / "config").rglob("*.py")]:
        used |= set(re.findall(r"""(?:CLASS|_class|json\.load\(fh\))\[["'](\w+)["']\]""", path.read_text()))
    assert used and used <= CLASS_KEYS
    setup = (DEPLOY / "jupyterhub" / "setup_class.py").read_text()
    written = set(re.findall(r'"(\w+)":', setup[setup.index("klass = {"):]))
    assert written >= CLASS_KEYS


def test_the_lab_settings_are_valid_for_the_installed_jupyterlab():
    overrides = json.loads((DEPLOY / "jupyterhub" / "config" / "lab" / "settings" / "overrides.json").read_text())
    schema_path = Path(sys.prefix) / "share/jupyter/lab/schemas/@jupyterlab/apputils-extension/notification.json"
    schema = json.loads(schema_path.read_text())["properties"]
    news = overrides["@jupyterlab/apputils-extension:notification"]
    assert news["fetchNews"] in {choice["const"] for choice in schema["fetchNews"]["oneOf"]}
    assert news["fetchNews"] == "false"  # "Never": no "Would you like to get notified…" prompt


def test_setup_class_names_a_missing_user():
    done = subprocess.run([sys.executable, str(DEPLOY / "jupyterhub" / "setup_class.py"),
                           "--instructor", "pgc-no-such-user", "--students", "pgc-no-such-student"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "no Unix user 'pgc-no-such-user': create it first" in done.stderr
