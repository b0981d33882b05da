"""The image build's pieces without a container engine: the Bento v2 build (no fallback to v1),
the rewrite of the Bento's Dockerfile into the multi-stage build, and the build context."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deploy.container.image import (
    SERVING,
    VENV_COPY,
    ContainerfileError,
    build_context,
    merge_env,
    multi_stage,
)
from tests.integration.serving import ROOT

BASE = "local/loan-default-os:bookworm"


def test_the_bentofile_base_image_is_the_one_make_container_builds() -> None:
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    makefile = (ROOT / "Makefile").read_text()
    (base,) = re.findall(r"^CONTAINER_BASE := (\S+)$", makefile, flags=re.MULTILINE)
    assert bentofile["docker"] == {"base_image": base}
    assert "dockerfile_template" not in (ROOT / "bentofile.yaml").read_text()


FIRST_PARTY = {"loan_default", "runners", "service"}
# Imports in the served modules that serving never runs, with the reason.
NOT_SERVED = {"optbinning": "WoEScorecard.fit only (training); a fitted scorecard is numpy"}


def _served_imports() -> dict[str, set[str]]:
    """Third-party top-level modules imported anywhere (also inside functions) by service.py and
    every project module it reaches, transitively: module -> the project modules importing it."""
    todo: list[str] = ["service"]
    seen: set[str] = set()
    found: dict[str, set[str]] = {}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        base = ROOT.joinpath(*module.split("."))
        paths = [p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()]
        for node in ast.walk(ast.parse(paths[0].read_text())) if paths else ():
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] in FIRST_PARTY:
                    todo += [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
                elif parts[0] not in sys.stdlib_module_names and parts[0] != "__future__":
                    found.setdefault(parts[0], set()).add(module)
    return found


def _closure(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` install (this environment's metadata), extras too."""
    extras_of: dict[str, set[str]] = {}
    todo = [(canonicalize_name(r.name), set(r.extras)) for r in map(Requirement, requirements)]
    while todo:
        name, extras = todo.pop()
        if name in extras_of and extras <= extras_of[name]:
            continue
        extras_of[name] = extras_of.get(name, set()) | extras
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in map(Requirement, requires):
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in {"", *extras}):
                todo.append((canonicalize_name(requirement.name), set(requirement.extras)))
    return set(extras_of)


def test_the_serving_image_installs_every_package_the_service_imports() -> None:
    requirements = [line.split("#")[0].strip() for line in SERVING.read_text().splitlines()]
    installed = _closure([r for r in requirements if r])
    distributions = metadata.packages_distributions()
    missing = {
        module: sorted(importers)
        for module, importers in _served_imports().items()
        if module not in NOT_SERVED
        and not {canonicalize_name(d) for d in distributions.get(module, [module])} & installed
    }
    assert not missing, f"add to deploy/container/serving.txt (module: imported by): {missing}"


def test_env_runs_merge_unless_a_value_refers_to_the_same_run() -> None:
    steps = ["ENV A=1", "ENV B=2", "ENV C=${A}", "RUN true", "ENV D=4"]
    assert merge_env(steps) == ["ENV A=1 \\\n    B=2", "ENV C=${A}", "RUN true", "ENV D=4"]


def test_a_dockerfile_of_another_shape_is_refused() -> None:
    with pytest.raises(ContainerfileError, match="FROM"):
        multi_stage("FROM debian\nRUN true\n", base_image=BASE, wheels_url="http://x")
    with pytest.raises(ContainerfileError, match="RUN mkdir"):
        steps = "RUN apt-get update\nRUN pip install uv\nRUN uv venv\nRUN uv pip install -r r"
        multi_stage(f"FROM {BASE}\n{steps}\n", base_image=BASE, wheels_url="http://x")
    with pytest.raises(ContainerfileError, match="uv venv"):
        multi_stage(f"FROM {BASE}\nRUN apt-get update\n", base_image=BASE, wheels_url="http://x")


@pytest.mark.slow
def test_bento_v2_build_and_its_multi_stage_dockerfile(tmp_path: Path) -> None:
    import bentoml

    from tests.runners.tiny_model import build

    tag, _, _ = build(version="vimagebuild")
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    # bentoml finds uv on PATH (the Makefile puts it there).
    uv_dir = str(Path.home() / ".local" / "bin")
    env = os.environ | {"PATH": f"{uv_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        [str(bentoml_cli), "build", "--arg", f"model_tag={tag}", "-o", "tag"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not supported by bento v2" not in result.stderr + result.stdout
    bento_tag = result.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    bento = bentoml.get(bento_tag)
    assert yaml.safe_load(Path(bento.path, "bento.yaml").read_text())["spec"] == 2

    context, _ = build_context(bento_tag, tmp_path / "context")
    assert (context / "models" / "loan_default" / "vimagebuild").is_dir()
    generated = (context / "env" / "docker" / "Dockerfile").read_text()
    dockerfile = multi_stage(generated, base_image=BASE, wheels_url="http://127.0.0.1:3480")
    assert dockerfile.count(f"FROM {BASE}") == 2
    assert "pip install -r" not in dockerfile and "apt-get" not in dockerfile
    assert "--no-index" in dockerfile and "--constraint /tmp/requirements.lock" in dockerfile
    assert "-r /tmp/serving.txt" in dockerfile
    assert dockerfile.rstrip().endswith(VENV_COPY)
    assert "USER bentoml" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "ln -s $BENTO_PATH/models /home/bentoml/models" in dockerfile  # read-only root fs
    requirements = (context / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm" in requirements
