"""The image build's pieces without a container engine: the Bento v2 build (no fallback to v1),
the rewrite of the Bento's Dockerfile into the multi-stage build, and the build context."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.container.image import (
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
    assert "uv venv" not in dockerfile and "apt-get" not in dockerfile
    assert "--no-index" in dockerfile and "requirements.lock" in dockerfile
    assert dockerfile.rstrip().endswith(VENV_COPY)
    assert "USER bentoml" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "ln -s $BENTO_PATH/models /home/bentoml/models" in dockerfile  # read-only root fs
    requirements = (context / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm" in requirements
