"""The Bento's generated Dockerfile, rewritten into an offline multi-stage build of few steps.

``bentoml build`` writes ``env/docker/Dockerfile`` into the Bento (Bento v2). Two things about it
do not work here:

* it installs the packages from a package index (``apt-get``, ``pip install uv``, ``uv venv``,
  ``uv pip install -r``), which no image build here can reach: those steps are replaced by a
  first stage, ``wheels`` (:func:`wheels_stage`, shared with the monitor's image,
  ``monitor_image.py``), that installs the serving packages from wheels served over loopback
  (``image.py``), and the final stage copies only the finished ``/app/.venv``;
* it has some 30 steps, and with the vfs storage driver every step, even ``ENV`` or ``EXPOSE``,
  makes a container, that is a full copy of the image so far (about a minute each on a busy
  disk). The rewrite keeps every effect of the Bento's steps (its user, paths, environment,
  ports, entrypoint) in as few steps as possible, in an order that keeps the cache: everything
  that does not depend on the Bento's code first, then the code, then the venv. A code change
  rebuilds three steps; nothing follows the big venv layer.

The rewrite refuses (``ContainerfileError``) a Dockerfile whose shape it does not know, rather
than guess.
"""

from __future__ import annotations

import json
import re

WHEELS_STAGE = """\
# Stage 1: the image's packages ({packages}) at their locked versions, from wheels downloaded on
# the host and served over loopback, installed by the host's uv into /app/.venv. The digest names
# the inputs (package list, lock, uv): the builder caches a RUN step by its text, not by what it
# fetches.
FROM {base} AS wheels
RUN echo "inputs {digest}" \\
    && curl -fsS {url}/uv -o /tmp/uv && chmod +x /tmp/uv \\
    && curl -fsS {url}/{packages} -o /tmp/{packages} \\
    && curl -fsS {url}/wheels/requirements.lock -o /tmp/requirements.lock \\
    && UV_PYTHON_DOWNLOADS=never /tmp/uv venv --quiet --python /usr/bin/python3 /app/.venv \\
    && VIRTUAL_ENV=/app/.venv /tmp/uv pip install --no-cache --no-index --compile-bytecode \\
       --find-links {url}/wheels/ --constraint /tmp/requirements.lock -r /tmp/{packages} \\
    && VIRTUAL_ENV=/app/.venv /tmp/uv pip check \\
    && rm /tmp/uv /tmp/{packages} /tmp/requirements.lock{hooks}

"""
STAGE_TWO = (
    "# Stage 2: the Bento's own steps, compacted; the package install replaced by a copy of "
    "stage 1.\n"
)
VENV_COPY = "COPY --from=wheels /app/.venv /app/.venv"
HEALTHCHECK = (
    "HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \\\n"
    '    CMD curl -fsS "http://127.0.0.1:${BENTOML_PORT:-3000}/readyz" || exit 1'
)
# The Bento's step that makes its folder, extended with BentoML's home folders (BentoML creates
# them at start-up, which a read-only root filesystem refuses) and the model store pointed at
# the Bento's models.
MKDIR_BENTO = "mkdir $BENTO_PATH"
HOME_FOLDERS = (
    " \\\n    && mkdir -p /home/bentoml/bentos /home/bentoml/envs /home/bentoml/tmp"
    " \\\n    && ln -s $BENTO_PATH/models /home/bentoml/models"
    " \\\n    && chown -h bentoml:bentoml /home/bentoml/bentos /home/bentoml/envs"
    " /home/bentoml/tmp /home/bentoml/models"
)
# The Bento's RUN steps that need a package index: distro build tools, uv, the venv, the install.
INDEX_STEPS = ("apt-get update", "pip install uv", "uv venv", "pip install -r")
# Steps that only set image metadata (no files): moved ahead of the code, so they stay cached.
METADATA = ("WORKDIR", "EXPOSE", "USER", "ENTRYPOINT", "CMD", "STOPSIGNAL")
_REFERENCE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_CHMOD = re.compile(r"^RUN chmod \+x (\S+)$")


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


def wheels_stage(
    base_image: str, wheels_url: str, *, packages: str, digest: str = "-", hooks: str = ""
) -> str:
    """Stage 1 of every image: ``/app/.venv`` with the packages of the list ``packages``.

    Args:
        base_image: the image the stage starts from.
        wheels_url: where ``image.py`` serves the wheels, the package list and uv.
        packages: the file name of the package list (``serving.txt``, ``monitor.txt``).
        digest: names the stage's inputs, so a changed list, lock or uv rebuilds it.
        hooks: shell commands run after the install (each a continued line starting with
            ``&&``), e.g. to put the project's sources on the venv's path; they must not
            depend on the code.
    """
    return WHEELS_STAGE.format(
        base=base_image, url=wheels_url, digest=digest, packages=packages, hooks=hooks
    )


def substitute(text: str, values: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced by ``values``; other references left to the builder."""
    return _REFERENCE.sub(lambda m: values.get(m[1] or m[2], m[0]), text)


def _assignment(step: str) -> tuple[str, str]:
    words = step.split(maxsplit=1)
    if len(words) != 2 or "\n" in step or "=" not in words[1] or " " in words[1]:
        raise ContainerfileError(f"expected one NAME=value in {step!r}; BentoML changed?")
    name, value = words[1].split("=", 1)
    return name, value


def multi_stage(
    bento_dockerfile: str,
    *,
    base_image: str,
    wheels_url: str,
    digest: str = "-",
    version: str = "",
) -> str:
    """The Bento's Dockerfile as the two-stage build (module docstring).

    ``ARG`` defaults and ``ENV`` values are resolved here (a value may refer to earlier ones) and
    set by one ``ENV`` step; the ``RUN`` steps before the code are joined into one; the metadata
    steps come before the code, with one ``EXPOSE`` and a ``HEALTHCHECK`` on ``/readyz``; the
    separate copies of ``env/docker`` and ``env/python`` (there to cache the index install) are
    covered by the copy of the whole Bento; ``RUN chmod +x`` after it is left to the context
    (:func:`executables`); the image's version label and the venv come last.

    Args:
        bento_dockerfile: the Bento's generated Dockerfile.
        base_image: the image both stages start from (the bentofile's ``docker.base_image``).
        wheels_url: where ``image.py`` serves the wheels, the package list and uv.
        digest: names the first stage's inputs, so a changed list, lock or uv rebuilds it.
        version: the ``org.opencontainers.image.version`` label (the Bento's tag).

    Raises:
        ContainerfileError: a step this rewrite does not know, an index step missing or twice,
            or a base image other than ``base_image``.
    """
    steps = instructions(bento_dockerfile)
    if not steps or steps[0].split()[:2] != ["FROM", base_image]:
        raise ContainerfileError(f"the Bento's Dockerfile does not start FROM {base_image}")
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    runs: list[str] = []
    metadata: list[str] = []
    ports: list[str] = []
    copies: list[str] = []
    found = dict.fromkeys(INDEX_STEPS, 0)
    for step in steps[1:]:
        keyword, _, rest = step.partition(" ")
        index = [marker for marker in INDEX_STEPS if keyword == "RUN" and marker in step]
        for marker in index:
            found[marker] += 1
        if index:
            continue
        if keyword == "ARG":
            name, value = _assignment(step)
            args[name] = substitute(value, args | env)
        elif keyword == "ENV":
            name, value = _assignment(step)
            env[name] = substitute(value, args | env)
        elif keyword == "RUN" and copies:
            if not _CHMOD.match(step):
                raise ContainerfileError(f"a RUN step after the code: {step!r}; BentoML changed?")
        elif keyword == "RUN":
            command = substitute(rest, args)  # ARGs are gone; ENV values are set by then
            runs.append(command + HOME_FOLDERS if rest.startswith(MKDIR_BENTO) else command)
        elif keyword == "EXPOSE":
            ports += rest.split()
        elif keyword in METADATA:
            metadata.append(f"{keyword} {substitute(rest, args | env)}")
        elif keyword == "COPY":
            copies.append(step)
        else:
            raise ContainerfileError(f"unknown step {step!r}; BentoML changed?")
    if any(count != 1 for count in found.values()):
        raise ContainerfileError(f"expected one RUN step of each of {found}; BentoML changed?")
    if not any(run.endswith(HOME_FOLDERS) for run in runs):
        raise ContainerfileError(f"no step 'RUN {MKDIR_BENTO}' in the Bento's Dockerfile")
    code = _code_copy(copies)
    environment = " \\\n    ".join(f"{name}={_quoted(value)}" for name, value in env.items())
    body = [
        steps[0],
        f"ENV {environment}",
        "RUN " + " \\\n    && ".join(runs),
        *[step for step in metadata if not step.startswith(("USER", "ENTRYPOINT", "CMD"))],
        f"EXPOSE {' '.join(ports)}",
        HEALTHCHECK,
        *[step for step in metadata if step.startswith(("USER", "ENTRYPOINT", "CMD"))],
        code,
        f"LABEL org.opencontainers.image.version={_quoted(version)}",
        VENV_COPY,
    ]
    stage = wheels_stage(base_image, wheels_url, digest=digest, packages="serving.txt")
    return stage + STAGE_TWO + "\n\n".join(body) + "\n"


def _code_copy(copies: list[str]) -> str:
    """The one ``COPY ... . ./`` of the whole Bento; the other copies must be inside it."""
    whole = [step for step in copies if step.split()[-2:] == [".", "./"]]
    if len(whole) != 1:
        raise ContainerfileError(f"expected one 'COPY . ./' among {copies}; BentoML changed?")
    flags = whole[0].split()[1:-2]
    for step in copies:
        words = step.split()
        source, target = words[-2], words[-1]
        inside = source.startswith("./") and target.rstrip("/") == source.rstrip("/")
        if step != whole[0] and not (inside and words[1:-2] == flags):
            raise ContainerfileError(f"a copy not covered by the whole Bento's: {step!r}")
    return whole[0]


def executables(bento_dockerfile: str, bento_path: str) -> list[str]:
    """Paths, relative to the Bento, that the Bento's ``RUN chmod +x`` steps make executable."""
    paths = [m[1] for s in instructions(bento_dockerfile) if (m := _CHMOD.match(s))]
    return [path.removeprefix(bento_path.rstrip("/") + "/") for path in paths]


def _quoted(value: str) -> str:
    return json.dumps(value) if not value or re.search(r"\s", value) else value
