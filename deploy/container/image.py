"""Build the service's container image from a built Bento, offline, with a multi-stage build.

``bentoml build`` writes a Dockerfile into the Bento (``env/docker/Dockerfile``, Bento v2). That
Dockerfile installs the Python packages with ``uv pip install`` from a package index, which no
image build here can reach (no registry, and PyPI only through a TLS proxy the image does not
trust). This script keeps the Bento's Dockerfile (its user, paths, environment, entrypoint),
compacted into few steps (``dockerfile.py``: every step is a full copy with the vfs driver), and
changes one thing: the packages come from a first build stage, ``wheels``, that installs the
serving packages (``serving.txt``: what ``bentoml serve`` imports, not the Bento's full
dependency set) at the versions of ``uv.lock`` (``requirements.lock``) from wheels downloaded on
the host (``wheels.sh``), with the host's ``uv`` binary (``--no-index --find-links``; seconds,
where pip took a quarter of an hour). The wheels, the list and uv are served to that stage over
loopback HTTP, so they are never copied into any layer; the final stage copies only the finished
virtual environment.

The monitor's image (``--target monitor``, ``make container-monitor``) is built the same way
from the same base and wheels: its own package list (``monitor.txt``) in stage 1, the project's
sources and models instead of a Bento in stage 2 (``monitor_image.py``).

Usage (``make container`` and ``make container-monitor`` run it)::

    python -m deploy.container.image --bento loan_default:latest --wheels build/container/wheels \
        --tag loan-default:latest --context build/container/context
    python -m deploy.container.image --target monitor --model loan_default:v3 \
        --wheels build/container/wheels --tag loan-default-monitor:latest \
        --context build/container/monitor/context
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.container import monitor_image
from deploy.container.dockerfile import executables, instructions, multi_stage

SERVING = Path(__file__).with_name("serving.txt")


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
    # The Bento's `RUN chmod +x` steps, done here: a file is copied with its mode.
    dockerfile = (context / "env" / "docker" / "Dockerfile").read_text()
    for path in executables(dockerfile, "/home/bentoml/bento"):
        (context / path).chmod(0o755)
    return context, str(bento.tag)


def stage_inputs(wheels: Path, uv: Path, folder: Path, packages: Path = SERVING) -> str:
    """Lay out what the first stage fetches in ``folder``; returns their digest.

    ``folder`` gets ``wheels/`` (a link to the wheels), ``uv`` and the package list ``packages``
    (copies). The digest covers the list, the lock and uv: the wheels are named by the lock.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "wheels").symlink_to(wheels.resolve(), target_is_directory=True)
    shutil.copy2(uv, folder / "uv")
    shutil.copy2(packages, folder / packages.name)
    digest = hashlib.sha256()
    for path in (folder / packages.name, wheels / "requirements.lock", folder / "uv"):
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
    parser.add_argument(
        "--target", choices=["serving", "monitor"], default="serving", help="which image"
    )
    parser.add_argument("--bento", default="loan_default:latest", help="Bento tag (serving)")
    parser.add_argument(
        "--model", action="append", default=[], help="model tag to pack (monitor; repeatable)"
    )
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
    if args.target == "monitor" and not args.model:
        parser.error("--target monitor needs at least one --model (the models it analyses)")
    served = args.context.with_name("served")  # outside the context: in no layer
    dockerfile = args.context.with_name("Dockerfile")  # outside the context: not in the image
    render: Callable[[str], str]  # the wheels' URL -> the Dockerfile
    if args.target == "serving":
        context, source = build_context(args.bento, args.context)
        bento_dockerfile = (context / "env" / "docker" / "Dockerfile").read_text()
        base = instructions(bento_dockerfile)[0].split()[1]
        digest = stage_inputs(args.wheels, args.uv, served)
        render = functools.partial(
            multi_stage, bento_dockerfile, base_image=base, digest=digest, version=source
        )
    else:
        context = monitor_image.build_context(args.model, args.context)
        source = "models " + ", ".join(args.model)
        digest = stage_inputs(args.wheels, args.uv, served, monitor_image.PACKAGES)
        render = functools.partial(
            monitor_image.dockerfile, _base_image(), digest=digest, version=_version()
        )
    with serve_directory(served, args.port) as url:
        dockerfile.write_text(render(wheels_url=url))
        tags = [part for tag in args.tag for part in ("-t", tag)]
        # No `--label`: the builder would add it as one more step after the venv's layer.
        command = ["docker", "build", "--network", "host", "-f", str(dockerfile), *tags]
        command.append(str(context))
        print(f"building {', '.join(args.tag)} from {source}", flush=True)
        start = time.monotonic()
        result = subprocess.run(command, check=False)
    if result.returncode == 0:
        print(f"built in {time.monotonic() - start:.0f} s: {', '.join(args.tag)}")
    return result.returncode


def _base_image() -> str:
    """The base image of both images: bentofile.yaml's ``docker.base_image`` (the Makefile's
    CONTAINER_BASE; a test keeps them equal)."""
    import yaml

    bentofile = yaml.safe_load((monitor_image.ROOT / "bentofile.yaml").read_text())
    return str(bentofile["docker"]["base_image"])


def _version() -> str:
    """The monitor image's version label: the project's version and its git commit."""
    import tomllib

    pyproject = tomllib.loads((monitor_image.ROOT / "pyproject.toml").read_text())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=monitor_image.ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{pyproject['project']['version']}-{commit or 'unknown'}"


if __name__ == "__main__":
    sys.exit(main())
