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

Usage (``make container`` runs it)::

    python -m deploy.container.image --bento loan_default:latest --wheels build/container/wheels \
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
            multi_stage(
                bento_dockerfile, base_image=base, wheels_url=url, digest=digest, version=bento_tag
            )
        )
        tags = [part for tag in args.tag for part in ("-t", tag)]
        # No `--label`: the builder would add it as one more step after the venv's layer.
        command = ["docker", "build", "--network", "host", "-f", str(dockerfile), *tags]
        command.append(str(context))
        print(f"building {', '.join(args.tag)} from Bento {bento_tag}", flush=True)
        start = time.monotonic()
        result = subprocess.run(command, check=False)
    if result.returncode == 0:
        print(f"built in {time.monotonic() - start:.0f} s: {', '.join(args.tag)}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
