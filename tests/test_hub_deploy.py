"""The deployment files agree with each other and with pyproject.toml (fast; no hub, no cluster).

What this machine cannot do is said where it matters: no Docker engine builds the image and no
Kubernetes cluster installs values.yaml; these checks are as far as they go here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

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


def test_the_image_copies_files_that_exist():
    for src in re.findall(r"^COPY (\S+)", (DEPLOY / "kubernetes" / "Dockerfile").read_text(), re.M):
        assert (ROOT / src).exists(), src


def test_values_yaml_parses_and_carries_a_complete_class_file():
    values = yaml.safe_load((DEPLOY / "kubernetes" / "values.yaml").read_text())
    klass = values["singleuser"]["extraFiles"]["pgcourse-class"]
    assert klass["mountPath"] == "/etc/jupyter/pgcourse_class.json"
    assert set(klass["data"]) == CLASS_KEYS
    for snippet in values["hub"]["extraConfig"].values():
        compile(snippet, "values.yaml extraConfig", "exec")
    mounts = {m["mountPath"] for m in values["singleuser"]["storage"]["extraVolumeMounts"]}
    assert klass["data"]["exchange"] in mounts  # every pod sees the same exchange


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
