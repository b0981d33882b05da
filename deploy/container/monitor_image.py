"""The monitor's image: ``loanctl`` (sidecar ``loanctl monitor run``), built like the serving one.

The serving image is a Bento: ``service.py``, ``loan_default/``, ``runners/`` and the serving
packages (``serving.txt``), nothing else. The monitoring sidecar needs what the Bento leaves out:
``monitoring/`` and ``loanctl/`` (its command), ``training/`` (what its retraining triggers run
and what ``loanctl`` registers), and their packages (Evidently, matplotlib, fairlearn, Prefect,
...: ``monitor.txt``). It is a second image from the same debootstrap base and the same wheels,
by the same builder (``image.py``; stage 1 is :func:`deploy.container.dockerfile.wheels_stage`):

* ``/app/.venv``: the packages of ``monitor.txt`` at the versions of ``uv.lock``, and the project
  put on the venv's path as an editable install does (a ``.pth`` naming ``/app/src``) with its
  console scripts (``loanctl``, from ``[project.scripts]`` of ``pyproject.toml``);
* ``/app/src``: the project's sources (:data:`SOURCES`, ``configs/`` beside the packages, where
  the code looks for them), owned by root: the monitor's user cannot change its own code;
* ``/app/bentoml``: a Bento model store (``BENTOML_HOME``) holding the models the sidecar
  analyses (their drift references), from the host's store: by default the model the serving
  image packs (``make container-monitor``); records of a model that is not in it are reported
  and skipped by the sidecar;
* user ``loan``, uid/gid 1034 (the serving image's uid: both write the shared volume), numeric
  so Kubernetes can check ``runAsNonRoot``; ``ENTRYPOINT ["loanctl"]``, ``CMD ["monitor",
  "run"]``; it writes only ``/tmp``, ``LOAN_HOME`` and ``LOAN_MONITOR_DIR`` (read-only root).

As for the serving image, every step of stage 2 is a full copy with the vfs driver: the metadata
first, then the code and models, then the venv.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from deploy.container.dockerfile import VENV_COPY, wheels_stage

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = Path(__file__).with_name("monitor.txt")
SOURCES = ("loan_default", "training", "runners", "monitoring", "loanctl", "configs")
"""The project's folders in the image (``pyproject.toml`` too: the version and scripts)."""
UID = 1034
PORT = 9108
ENVIRONMENT = {
    "LANG": "C.UTF-8",
    "VIRTUAL_ENV": "/app/.venv",
    "PATH": "/app/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "BENTOML_HOME": "/app/bentoml",
    "LOAN_HOME": "/var/lib/loan",
    "LOAN_ENVIRONMENT": "production",
    "LOAN_MONITOR_HOST": "0.0.0.0",
    "LOAN_MONITOR_PORT": str(PORT),
    "LOAN_MONITOR_DIR": "/var/lib/loan-monitor",
    # Written at run time: on /tmp, the one writable folder besides the volumes.
    "PREFECT_HOME": "/tmp/prefect",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
}
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache")


def console_scripts(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """``[project.scripts]``: command name -> ``module:function``."""
    scripts: dict[str, str] = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    return scripts


def project_hooks(scripts: dict[str, str], source: str = "/app/src") -> str:
    """Stage 1's last commands: ``source`` on the venv's path, and one script per command.

    What an editable install of the project writes, without a build backend in the image.
    """
    purelib = (
        "$(/app/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path(\"purelib\"))')"
    )
    steps = [f'echo {source} > "{purelib}/_loan_default_platform.pth"']
    for name, target in sorted(scripts.items()):
        module, function = target.split(":")
        body = f"#!/app/.venv/bin/python\\nimport sys\\nfrom {module} import {function}\\n"
        body += f"sys.exit({function}())\\n"
        steps.append(f"printf '{body}' > /app/.venv/bin/{name} && chmod 755 /app/.venv/bin/{name}")
    return "".join(f" \\\n    && {step}" for step in steps)


def dockerfile(base_image: str, *, wheels_url: str, digest: str = "-", version: str = "") -> str:
    """The monitor image's two-stage Dockerfile (module docstring)."""
    stage = wheels_stage(
        base_image,
        wheels_url,
        packages=PACKAGES.name,
        digest=digest,
        hooks=project_hooks(console_scripts()),
    )
    environment = " \\\n    ".join(f"{name}={value}" for name, value in ENVIRONMENT.items())
    store = ENVIRONMENT["BENTOML_HOME"]
    folders = f"{store}/bentos {store}/envs {store}/tmp"
    setup = (
        f"RUN groupadd -g {UID} loan && useradd -m -u {UID} -g {UID} loan \\\n"
        f"    && mkdir -p /var/lib/loan /var/lib/loan-monitor {folders} \\\n"
        f"    && chown loan:loan /var/lib/loan /var/lib/loan-monitor"
    )
    body = [
        f"FROM {base_image}",
        f"ENV {environment}",
        setup,
        f"EXPOSE {PORT}",
        f"USER {UID}:{UID}",
        'ENTRYPOINT ["loanctl"]',
        'CMD ["monitor", "run"]',
        "COPY . /app/",
        f"LABEL org.opencontainers.image.version={version or '-'}",
        VENV_COPY,
    ]
    comment = "# Stage 2: the monitor: user, environment, the code and models, the venv last.\n"
    return stage + comment + "\n\n".join(body) + "\n"


def build_context(models: list[str], context: Path) -> Path:
    """The project's sources into ``context/src``, ``models`` into ``context/bentoml/models``.

    Args:
        models: Bento model tags (``loan_default:<version>``) from the host's model store.
        context: the build context folder (replaced).
    """
    import bentoml

    if context.exists():
        shutil.rmtree(context)
    src = context / "src"
    for name in SOURCES:
        shutil.copytree(ROOT / name, src / name, ignore=_IGNORE)
    shutil.copy2(ROOT / "pyproject.toml", src / "pyproject.toml")
    store = context / "bentoml" / "models"
    store.mkdir(parents=True)
    for tag in models:
        bentoml.models.BentoModel(bentoml.models.get(tag).tag).resolve(store)
    # Copied as they are (owned by root in the image): readable by the image's user, whatever
    # the modes of the host's store (a model's folder is made private there).
    for path in [context, *context.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return context
