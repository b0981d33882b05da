"""Every container the overlays deploy runs a real entry point of an image a make target builds.

Without a container engine (CI): for every container of every rendered overlay, the image is one
that ``make container`` or ``make container-monitor`` builds (through the overlay's ``images:``
entry), and the process it starts exists: the Bento's own entrypoint for the service, and for
the monitor the ``loanctl`` command line, whose sub-command must parse (``--help`` exits 0) and
whose settings must load with the container's environment (image, ConfigMap, ``env:``). Every
``LOAN_*`` variable set must name a setting the code reads: the settings ignore unknown
variables, so a misspelt one would be lost silently. (The monitor once ran ``python -m
loan_default.cli``, a module that never existed, from an image without ``loanctl``.)
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from deploy.container import monitor_image
from deploy.k8s import manifests
from loan_default.settings import LoanSettings
from tests.integration.serving import ROOT

# Modules defining the settings classes (every LoanSettings subclass lives in one of them).
SETTINGS_MODULES = (
    "loan_default.settings", "loan_default.cluster", "loan_default.data.io",
    "loan_default.feature_store.settings", "loan_default.security.settings", "runners.settings",
    "monitoring.settings", "training.gates", "training.config", "loanctl.locations",
)  # fmt: skip
# What each image's container runs when a manifest gives no command (its ENTRYPOINT and CMD):
# the serving image is the Bento's (``bentoml serve`` of bentofile.yaml's service).
SERVING_REPOSITORY = "loan-default"
MONITOR_REPOSITORY = "loan-default-monitor"


def built_images() -> dict[str, str]:
    """Image repository -> the make target building it: the ``--tag $(VAR)`` of each recipe
    running ``deploy.container.image``, with ``VAR ?= repository:tag``."""
    makefile = (ROOT / "Makefile").read_text()
    defaults = dict(re.findall(r"^(\w+) \?= (\S+)$", makefile, flags=re.MULTILINE))
    out: dict[str, str] = {}
    for target, recipe in re.findall(r"^([\w-]+):[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M):
        if "deploy.container.image" in recipe:
            for variable in re.findall(r"--tag \$\((\w+)\)", recipe):
                out[defaults[variable].rsplit(":", 1)[0]] = target
    return out


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {overlay.name: manifests.render(overlay) for overlay in manifests.overlays()}


def containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(workload name, container) of every pod template, init containers included."""
    out = []
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec")
        for container in [
            *(pod or {}).get("initContainers", []),
            *(pod or {}).get("containers", []),
        ]:
            out.append((obj["metadata"]["name"], container))
    return out


def environment(objects: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The variables Kubernetes gives the container: its ConfigMaps (``envFrom``), then ``env``
    values (Secrets and ``valueFrom`` are left out: their values are not in the repository)."""
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= maps[source["configMapRef"]["name"]]
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return env


def test_make_targets_build_the_service_and_the_monitor_images() -> None:
    assert built_images() == {
        SERVING_REPOSITORY: "container",
        MONITOR_REPOSITORY: "container-monitor",
    }


def test_every_container_runs_an_image_a_make_target_builds(rendered) -> None:
    built = built_images()
    for overlay, objects in rendered.items():
        kustomization = yaml.safe_load(
            (manifests.K8S / "overlays" / overlay / "kustomization.yaml").read_text()
        )
        mapped = {f"{i['newName']}:{i['newTag']}": i["name"] for i in kustomization["images"]}
        assert set(mapped.values()) <= set(built), f"{overlay}: images no target builds"
        for workload, container in containers(objects):
            image = container["image"]
            assert image in mapped, f"{overlay}/{workload}: {image} is not an image of make's"
        used = {mapped[c["image"]] for _, c in containers(objects)}
        assert used == set(built), f"{overlay}: deploys {used}, make builds {set(built)}"


def test_every_container_command_is_a_real_entry_point(rendered, tmp_path: Path) -> None:
    images = {f"{i['newName']}:{i['newTag']}": i["name"]
              for overlay in rendered
              for i in yaml.safe_load((manifests.K8S / "overlays" / overlay /
                                       "kustomization.yaml").read_text())["images"]}  # fmt: skip
    checked: set[str] = set()
    for objects in rendered.values():
        for workload, container in containers(objects):
            repository = images[container["image"]]
            if repository == SERVING_REPOSITORY:
                # The Bento's entrypoint serves bentofile.yaml's service: no override.
                assert "command" not in container and "args" not in container, workload
                service = yaml.safe_load((ROOT / "bentofile.yaml").read_text())["service"]
                module, name = service.split(":")
                assert f"class {name}" in (ROOT / f"{module}.py").read_text()
                continue
            assert repository == MONITOR_REPOSITORY, repository
            argv = run_argv(container)
            env = environment(objects, container)
            key = json.dumps([argv, env], sort_keys=True)
            if key not in checked:
                checked.add(key)
                check_loanctl(argv, env, tmp_path)
    assert checked, "no monitor container checked"


def run_argv(container: dict[str, Any]) -> list[str]:
    """What the container executes: ``command`` (else the image's ENTRYPOINT) and ``args``
    (else, when ``command`` is not given, the image's CMD), as Kubernetes combines them."""
    steps = monitor_image.dockerfile("base", wheels_url="http://x").splitlines()
    entrypoint = json.loads(next(s for s in steps if s.startswith("ENTRYPOINT "))[11:])
    cmd = json.loads(next(s for s in steps if s.startswith("CMD "))[4:])
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*entrypoint, *container.get("args", cmd)]


def check_loanctl(argv: list[str], manifest_env: dict[str, str], tmp_path: Path) -> None:
    """``argv`` is a console script of the project whose sub-command parses, and the settings
    of the sidecar load, with the image's and the manifest's environment (the folders the
    image writes at start-up moved under ``tmp_path``)."""
    scripts = monitor_image.console_scripts()
    assert argv[0] in scripts, f"{argv[0]} is not a command of [project.scripts]: {scripts}"
    env = monitor_image.ENVIRONMENT | manifest_env
    env |= {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "MPLCONFIGDIR": str(tmp_path / "matplotlib"),
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    env.pop("VIRTUAL_ENV")
    help_run = subprocess.run([*argv, "--help"], env=env, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
    assert help_run.returncode == 0, f"{' '.join(argv)} --help: {help_run.stderr[-2000:]}"
    assert "Usage: " in help_run.stdout and " ".join(argv[:3]) in help_run.stdout
    if argv[1:3] == ["monitor", "run"]:
        load = (
            "from monitoring.settings import MonitorSettings, MonitoringConfig\n"
            "from loan_default.security.settings import SecuritySettings\n"
            "settings = MonitorSettings()\n"
            "MonitoringConfig.load(settings.monitor_config)\n"
            "SecuritySettings()\n"
            "print(settings.home, settings.monitor_path, settings.monitor_port)\n"
        )
        loaded = subprocess.run([sys.executable, "-c", load], env=env, capture_output=True,
                                text=True, timeout=120, check=False)  # fmt: skip
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        home, state, port = loaded.stdout.split()
        assert (home, state) == (env["LOAN_HOME"], env["LOAN_MONITOR_DIR"])
        assert port == manifest_env.get(
            "LOAN_MONITOR_PORT", monitor_image.ENVIRONMENT["LOAN_MONITOR_PORT"]
        )


def setting_variables() -> set[str]:
    """Every variable a settings class of the project reads (``LOAN_<FIELD>``)."""
    for module in SETTINGS_MODULES:
        importlib.import_module(module)
    classes: list[type[BaseSettings]] = [LoanSettings]
    names: set[str] = set()
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        prefix = str(cls.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def test_every_loan_variable_of_the_manifests_is_a_setting(rendered) -> None:
    known = setting_variables()
    assert {"LOAN_HOME", "LOAN_MONITOR_DIR", "LOAN_DATA_KEY_FILE", "LOAN_GRPC_PORT"} <= known
    for overlay, objects in rendered.items():
        for workload, container in containers(objects):
            env = environment(objects, container)
            unknown = sorted(name for name in env if name.startswith("LOAN_") and name not in known)
            assert not unknown, f"{overlay}/{workload}: no setting reads {unknown}"
