"""The image build's pieces without a container engine: the Bento v2 build (no fallback to v1),
the rewrite of the Bento's Dockerfile into the multi-stage build, and the build context."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deploy.container import monitor_image
from deploy.container.dockerfile import (
    VENV_COPY,
    ContainerfileError,
    executables,
    instructions,
    multi_stage,
)
from deploy.container.image import SERVING, build_context
from tests.integration.serving import ROOT

BASE = "local/loan-default-os:bookworm"


def test_the_bentofile_base_image_is_the_one_make_container_builds() -> None:
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    makefile = (ROOT / "Makefile").read_text()
    (base,) = re.findall(r"^CONTAINER_BASE := (\S+)$", makefile, flags=re.MULTILINE)
    assert bentofile["docker"] == {"base_image": base}
    assert "dockerfile_template" not in (ROOT / "bentofile.yaml").read_text()


FIRST_PARTY = {"loan_default", "runners", "service", "training", "monitoring", "loanctl"}
# Imports in the served modules that serving never runs, with the reason.
NOT_SERVED = {"optbinning": "WoEScorecard.fit only (training); a fitted scorecard is numpy"}


def _imports(*roots: str) -> tuple[dict[str, set[str]], set[str]]:
    """Third-party top-level modules imported anywhere (also inside functions) by the project
    modules ``roots`` and every project module they reach, transitively: module -> the project
    modules importing it; and the project modules reached."""
    todo: list[str] = list(roots)
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
    return found, seen


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


def _missing(package_list: Path, imports: dict[str, set[str]]) -> dict[str, list[str]]:
    """The modules of ``imports`` that no distribution installed by ``package_list`` provides."""
    requirements = [line.split("#")[0].strip() for line in package_list.read_text().splitlines()]
    installed = _closure([r for r in requirements if r])
    distributions = metadata.packages_distributions()
    return {
        module: sorted(importers)
        for module, importers in imports.items()
        if not {canonicalize_name(d) for d in distributions.get(module, [module])} & installed
    }


def test_the_serving_image_installs_every_package_the_service_imports() -> None:
    imports, _ = _imports("service")
    missing = _missing(SERVING, {m: i for m, i in imports.items() if m not in NOT_SERVED})
    assert not missing, f"add to deploy/container/serving.txt (module: imported by): {missing}"


def test_the_monitor_image_installs_every_package_loanctl_and_monitoring_import() -> None:
    # loanctl.cli registers every command (training's, the flows', the feature store's), so
    # everything they import is needed: the sidecar's retraining triggers run the training flow.
    imports, _ = _imports("loanctl.cli", "monitoring")
    assert {"evidently", "prefect", "typer", "bentoml"} <= set(imports)  # the walk works
    missing = _missing(monitor_image.PACKAGES, imports)
    assert not missing, f"add to deploy/container/monitor.txt (module: imported by): {missing}"


def test_the_monitor_image_holds_every_project_package_loanctl_reaches() -> None:
    _, reached = _imports("loanctl.cli", "monitoring")
    packages = {module.split(".")[0] for module in reached}
    assert packages <= set(monitor_image.SOURCES), packages - set(monitor_image.SOURCES)
    assert "configs" in monitor_image.SOURCES  # read beside the packages (parents[1])


def test_the_monitor_dockerfile_runs_loanctl_as_uid_1034_with_the_venv_last() -> None:
    dockerfile = monitor_image.dockerfile(BASE, wheels_url="http://x", digest="d", version="v")
    steps = _stage_two(dockerfile)
    assert steps[0] == f"FROM {BASE}" and steps[-1] == VENV_COPY
    assert steps[-3] == "COPY . /app/"  # the sources and models, after the metadata
    assert "USER 1034:1034" in steps  # numeric: Kubernetes can check runAsNonRoot
    entrypoint = next(s for s in steps if s.startswith("ENTRYPOINT"))
    (command,) = json.loads(entrypoint.removeprefix("ENTRYPOINT "))
    assert command in monitor_image.console_scripts()
    assert json.loads(next(s for s in steps if s.startswith("CMD"))[4:]) == ["monitor", "run"]
    # Stage 1: the monitor's list, and the project on the venv's path with its scripts.
    assert (
        "-r /tmp/monitor.txt" in dockerfile and "--constraint /tmp/requirements.lock" in dockerfile
    )
    assert "echo /app/src > " in dockerfile and "_loan_default_platform.pth" in dockerfile
    assert "from loanctl.cli import run" in dockerfile and "/app/.venv/bin/loanctl" in dockerfile
    # The same stage 1 as the serving image's, but for the list and the project's hooks.
    serving = multi_stage(BENTO_DOCKERFILE, base_image=BASE, wheels_url="http://x", digest="d")
    first = instructions(serving)[1].replace("serving.txt", "monitor.txt")
    assert instructions(dockerfile)[1].startswith(first)


def test_the_monitor_context_holds_the_sources_and_the_models(tmp_path: Path) -> None:
    from tests.runners.tiny_model import build

    tag, _, _ = build(version="vmonitorcontext")
    context = monitor_image.build_context([tag], tmp_path / "context")
    src = context / "src"
    assert sorted(p.name for p in src.iterdir()) == sorted(
        [*monitor_image.SOURCES, "pyproject.toml"]
    )
    assert not list(src.rglob("__pycache__"))
    assert (src / "configs" / "monitoring.yaml").is_file()
    assert (context / "bentoml" / "models" / "loan_default" / "vmonitorcontext").is_dir()
    # Owned by root in the image: every file readable (every folder open) by its user.
    modes = {p.stat().st_mode & 0o777 for p in context.rglob("*")}
    assert modes == {0o755, 0o644}


# The shape of BentoML 1.4's generated Dockerfile (Bento v2), shortened.
BENTO_DOCKERFILE = f"""\
FROM {BASE} AS base-container
ENV LANG=C.UTF-8
ARG BENTO_USER=bentoml
ARG BENTO_USER_UID=1034
RUN useradd -m -u $BENTO_USER_UID $BENTO_USER
ARG BENTO_PATH=/home/bentoml/bento
ENV BENTO_PATH=$BENTO_PATH
ARG LOAN_HOME=/home/bentoml/var
ENV LOAN_HOME=$LOAN_HOME
RUN mkdir $BENTO_PATH && chown bentoml:bentoml $BENTO_PATH -R
WORKDIR $BENTO_PATH
COPY --chown=bentoml:bentoml ./env/docker ./env/docker/
RUN apt-get update && apt-get install -y git
RUN command -v uv >/dev/null || pip install uv
RUN uv venv --python 3.11 /app/.venv
ENV VIRTUAL_ENV=/app/.venv
ENV PATH=/app/.venv/bin:${{PATH}}
COPY --chown=bentoml:bentoml ./env/python ./env/python/
RUN uv pip install -r $BENTO_PATH/env/python/requirements.txt
COPY --chown=bentoml:bentoml . ./
EXPOSE 3000
EXPOSE 3001
RUN chmod +x /home/bentoml/bento/env/docker/entrypoint.sh
USER bentoml
ENTRYPOINT [ "/home/bentoml/bento/env/docker/entrypoint.sh" ]
"""


def _stage_two(dockerfile: str) -> list[str]:
    steps = instructions(dockerfile)
    froms = [i for i, step in enumerate(steps) if step.startswith("FROM")]
    assert len(froms) == 2
    return steps[froms[1] :]


def test_the_bento_steps_become_few_steps_code_and_venv_last() -> None:
    dockerfile = multi_stage(BENTO_DOCKERFILE, base_image=BASE, wheels_url="http://x", version="t")
    steps = _stage_two(dockerfile)
    assert [step.split()[0] for step in steps] == [
        "FROM", "ENV", "RUN", "WORKDIR", "EXPOSE", "HEALTHCHECK", "USER", "ENTRYPOINT", "COPY",
        "LABEL", "COPY",
    ]  # fmt: skip
    env = steps[1]
    # ARG defaults and earlier values resolved; the base image's PATH left to the builder.
    assert "BENTO_PATH=/home/bentoml/bento" in env and "LOAN_HOME=/home/bentoml/var" in env
    assert "PATH=/app/.venv/bin:${PATH}" in env
    assert steps[2].startswith("RUN useradd -m -u 1034 bentoml \\\n    && mkdir /home/bentoml/")
    assert "ln -s $BENTO_PATH/models /home/bentoml/models" in steps[2]  # read-only root fs
    assert steps[3] == "WORKDIR /home/bentoml/bento" and steps[4] == "EXPOSE 3000 3001"
    assert steps[-3] == "COPY --chown=bentoml:bentoml . ./"
    assert steps[-2] == "LABEL org.opencontainers.image.version=t" and steps[-1] == VENV_COPY
    assert "apt-get" not in dockerfile and "pip install -r" not in dockerfile
    assert executables(BENTO_DOCKERFILE, "/home/bentoml/bento") == ["env/docker/entrypoint.sh"]


def test_a_dockerfile_of_another_shape_is_refused() -> None:
    with pytest.raises(ContainerfileError, match="FROM"):
        multi_stage("FROM debian\nRUN true\n", base_image=BASE, wheels_url="http://x")
    with pytest.raises(ContainerfileError, match="RUN mkdir"):
        steps = "RUN apt-get update\nRUN pip install uv\nRUN uv venv\nRUN uv pip install -r r"
        multi_stage(f"FROM {BASE}\n{steps}\n", base_image=BASE, wheels_url="http://x")
    with pytest.raises(ContainerfileError, match="uv venv"):
        multi_stage(f"FROM {BASE}\nRUN apt-get update\n", base_image=BASE, wheels_url="http://x")
    for unknown in ("VOLUME /data", "RUN echo after the code", "COPY ./elsewhere /x"):
        with pytest.raises(ContainerfileError):
            multi_stage(BENTO_DOCKERFILE + unknown, base_image=BASE, wheels_url="http://x")


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
    assert len(_stage_two(dockerfile)) <= 12  # every step is a full copy with vfs
    assert "pip install -r" not in dockerfile and "apt-get" not in dockerfile
    assert "--no-index" in dockerfile and "--constraint /tmp/requirements.lock" in dockerfile
    assert "-r /tmp/serving.txt" in dockerfile
    assert dockerfile.rstrip().endswith(VENV_COPY)
    assert "USER bentoml" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "ln -s $BENTO_PATH/models /home/bentoml/models" in dockerfile  # read-only root fs
    requirements = (context / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm" in requirements
