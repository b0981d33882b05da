"""Build the service's container image from a built Bento, offline, with a multi-stage build.

``bentoml build`` writes a Dockerfile into the Bento (``env/docker/Dockerfile``, Bento v2). That
Dockerfile installs the Python packages with ``uv pip install`` from a package index, which no
image build here can reach (no registry, and PyPI only through a TLS proxy the image does not
trust). This script keeps the Bento's Dockerfile (its user, paths, environment, entrypoint)
and changes one thing: the packages come from a first build stage, ``wheels``, that installs the
serving packages (``serving.txt``: what ``bentoml serve`` imports, not the Bento's full
dependency set) at the versions of ``uv.lock`` (``requirements.lock``) from wheels downloaded on
the host (``wheels.sh``), with the host's ``uv`` binary (``--no-index --find-links``; seconds,
where pip took a quarter of an hour). The wheels, the list and uv are served to that stage over
loopback HTTP, so they are never copied into any layer; the final stage copies only the finished
virtual environment.

Usage (``make container`` runs it)::

    python deploy/container/image.py --bento loan_default:latest --wheels build/container/wheels \
        --tag loan-default:latest --context build/container/context
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WHEELS_STAGE = """\
# Stage 1: the serving packages at their locked versions, from wheels downloaded on the host and
# served over loopback, installed by the host's uv into /app/.venv. The digest names the inputs
# (package list, lock, uv): the builder caches a RUN step by its text, not by what it fetches.
FROM {base} AS wheels
RUN echo "inputs {digest}" \\
    && curl -fsS {url}/uv -o /tmp/uv && chmod +x /tmp/uv \\
    && curl -fsS {url}/serving.txt -o /tmp/serving.txt \\
    && curl -fsS {url}/wheels/requirements.lock -o /tmp/requirements.lock \\
    && UV_PYTHON_DOWNLOADS=never /tmp/uv venv --quiet --python /usr/bin/python3 /app/.venv \\
    && VIRTUAL_ENV=/app/.venv /tmp/uv pip install --no-cache --no-index --compile-bytecode \\
       --find-links {url}/wheels/ --constraint /tmp/requirements.lock -r /tmp/serving.txt \\
    && VIRTUAL_ENV=/app/.venv /tmp/uv pip check \\
    && rm /tmp/uv /tmp/serving.txt /tmp/requirements.lock

# Stage 2: the Bento's own Dockerfile, the package install replaced by a copy of stage 1.
"""
SERVING = Path(__file__).with_name("serving.txt")
VENV_COPY = "COPY --from=wheels /app/.venv /app/.venv"
HEALTHCHECK = (
    "HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \\\n"
    '    CMD curl -fsS "http://127.0.0.1:${BENTOML_PORT:-3000}/readyz" || exit 1'
)
# The Bento's step that makes its folder, extended with BentoML's home folders (BentoML creates
# them at start-up, which a read-only root filesystem refuses) and the model store pointed at
# the Bento's models (so `loanctl monitor` in the same image finds them).
_MKDIR_BENTO = "RUN mkdir $BENTO_PATH"
HOME_FOLDERS = (
    " \\\n    && mkdir -p /home/bentoml/bentos /home/bentoml/envs /home/bentoml/tmp"
    " \\\n    && ln -s $BENTO_PATH/models /home/bentoml/models"
    " \\\n    && chown -h bentoml:bentoml /home/bentoml/bentos /home/bentoml/envs"
    " /home/bentoml/tmp /home/bentoml/models"
)
# The Bento's RUN steps that need a package index: distro build tools, uv, the venv, the install.
_INDEX_STEPS = ("apt-get update", "pip install uv", "uv venv", "pip install -r")


class ContainerfileError(RuntimeError):
    """The Bento's Dockerfile no longer has the shape this script rewrites."""


def instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions, each with its continuation lines, comments dropped."""
    result: list[str] = []
    current: list[str] = []
    for line in dockerfile.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current.append(line)
        if not line.rstrip().endswith("\\"):
            result.append("\n".join(current))
            current = []
    if current:
        result.append("\n".join(current))
    return result


def multi_stage(
    bento_dockerfile: str, *, base_image: str, wheels_url: str, digest: str = "-"
) -> str:
    """The Bento's Dockerfile with its index-dependent install replaced by the wheels stage.

    The copy of the finished venv is the last step: with the vfs storage driver every step
    copies the whole filesystem of the step before, so nothing should follow the big layer
    (a code change then costs one copy of the venv, not one per remaining step). Runs of
    ``ENV`` lines are merged into one step for the same reason.

    Args:
        bento_dockerfile: the Bento's generated Dockerfile.
        base_image: the image both stages start from (the bentofile's ``docker.base_image``).
        wheels_url: where :func:`serve_inputs` serves the wheels, the list and uv.
        digest: names the first stage's inputs (:func:`inputs_digest`), so a changed list,
            lock or uv rebuilds it.

    Raises:
        ContainerfileError: the Dockerfile does not have exactly one of each step replaced, or
            its base image is not ``base_image``.
    """
    steps = instructions(bento_dockerfile)
    if not steps or steps[0].split()[:2] != ["FROM", base_image]:
        raise ContainerfileError(f"the Bento's Dockerfile does not start FROM {base_image}")
    kept: list[str] = []
    found = dict.fromkeys(_INDEX_STEPS, 0)
    for step in steps:
        matches = [marker for marker in _INDEX_STEPS if step.startswith("RUN") and marker in step]
        for marker in matches:
            found[marker] += 1
        if step.startswith("ENTRYPOINT"):
            kept.append(HEALTHCHECK)
        if step.startswith(_MKDIR_BENTO):
            step += HOME_FOLDERS
        if not matches:
            kept.append(step)
    if any(count != 1 for count in found.values()):
        raise ContainerfileError(f"expected one RUN step of each of {found}; BentoML changed?")
    if not any(step.startswith(_MKDIR_BENTO) for step in steps):
        raise ContainerfileError(f"no step {_MKDIR_BENTO!r} in the Bento's Dockerfile")
    body = "\n\n".join([*merge_env(kept), VENV_COPY])
    stage = WHEELS_STAGE.format(base=base_image, url=wheels_url, digest=digest)
    return stage + body + "\n"


def merge_env(steps: list[str]) -> list[str]:
    """Consecutive one-line ``ENV name=value`` steps as one step, unless a value refers to a
    name set in the same run (one ``ENV`` sees only the values from before it)."""
    merged: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        if len(run) == 1:
            merged.append(f"ENV {run[0][0]}={run[0][1]}")
        elif run:
            merged.append("ENV " + " \\\n    ".join(f"{name}={value}" for name, value in run))
        run.clear()

    for step in steps:
        words = step.split(maxsplit=1)
        if words[0] == "ENV" and "\n" not in step and "=" in words[1] and " " not in words[1]:
            name, value = words[1].split("=", 1)
            if any(f"${other}" in value or f"${{{other}}}" in value for other, _ in run):
                flush()
            run.append((name, value))
            continue
        flush()
        merged.append(step)
    flush()
    return merged


def build_context(bento_tag: str, context: Path) -> tuple[Path, str]:
    """Copy the Bento and its models (from the model store) into ``context``.

    Returns the context and the Bento's resolved tag.
    """
    import bentoml

    bento = bentoml.get(bento_tag)
    if context.exists():
        shutil.rmtree(context)
    shutil.copytree(bento.path, context)
    models = context / "models"
    models.mkdir(exist_ok=True)
    for info in bento.info.all_models:
        bentoml.models.BentoModel(info.tag).resolve(models)
    return context, str(bento.tag)


def stage_inputs(wheels: Path, uv: Path, folder: Path) -> str:
    """Lay out what the first stage fetches in ``folder``; returns their digest.

    ``folder`` gets ``wheels/`` (a link to the wheels), ``uv`` and ``serving.txt`` (copies). The
    digest covers the list, the lock and uv: the wheels themselves are named by the lock.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "wheels").symlink_to(wheels.resolve(), target_is_directory=True)
    shutil.copy2(uv, folder / "uv")
    shutil.copy2(SERVING, folder / "serving.txt")
    digest = hashlib.sha256()
    for path in (folder / "serving.txt", wheels / "requirements.lock", folder / "uv"):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@contextmanager
def serve_directory(directory: Path, port: int) -> Iterator[str]:
    """Serve ``directory`` read-only over HTTP on 127.0.0.1:``port`` while the block runs."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No line per wheel."""


def main(argv: list[str] | None = None) -> int:
    """Assemble the context, write its Dockerfile and run ``docker build``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bento", default="loan_default:latest", help="Bento tag")
    parser.add_argument("--wheels", type=Path, required=True, help="folder from wheels.sh")
    parser.add_argument("--tag", action="append", required=True, help="image tag (repeatable)")
    parser.add_argument("--context", type=Path, required=True, help="build context folder")
    parser.add_argument("--port", type=int, default=3480, help="loopback port of the wheels")
    parser.add_argument("--uv", type=Path, default=shutil.which("uv"), help="the uv binary")
    args = parser.parse_args(argv)
    lock = args.wheels / "requirements.lock"
    if not (args.wheels / ".complete").exists() or not lock.exists():
        parser.error(f"{args.wheels} is not a complete wheels folder: run wheels.sh first")
    if args.uv is None or not args.uv.is_file():
        parser.error("no uv binary: pass --uv (make container passes the Makefile's UV)")
    context, bento_tag = build_context(args.bento, args.context)
    bento_dockerfile = (context / "env" / "docker" / "Dockerfile").read_text()
    base = instructions(bento_dockerfile)[0].split()[1]
    served = context.with_name("served")  # outside the context: in no layer
    digest = stage_inputs(args.wheels, args.uv, served)
    with serve_directory(served, args.port) as url:
        dockerfile = context.with_name("Dockerfile")  # outside the context: not in the image
        dockerfile.write_text(
            multi_stage(bento_dockerfile, base_image=base, wheels_url=url, digest=digest)
        )
        tags = [part for tag in args.tag for part in ("-t", tag)]
        command = ["docker", "build", "--network", "host", "-f", str(dockerfile), *tags]
        command += ["--label", f"org.opencontainers.image.version={bento_tag}", str(context)]
        print(f"building {', '.join(args.tag)} from Bento {bento_tag}", flush=True)
        start = time.monotonic()
        result = subprocess.run(command, check=False)
    if result.returncode == 0:
        print(f"built in {time.monotonic() - start:.0f} s: {', '.join(args.tag)}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
