#!/usr/bin/env bash
# Download, on the host, the wheels of the locked runtime dependencies (uv.lock without the dev
# group) for CPython 3.11 on glibc x86_64 (bookworm: glibc 2.36), so the image build installs them
# with `pip install --no-index --find-links` and needs no package index.
# Usage: wheels.sh WORK_DIR. Cached: nothing is downloaded when the lock has not changed.
set -euo pipefail
WORK=$1
UV=${UV:-uv}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$WORK/wheels"
"$UV" export --frozen --no-dev --no-hashes --no-emit-project --no-header --no-annotate \
  >"$WORK/wheels/requirements.lock.new"
stamp="$WORK/wheels/.complete"
if [ -f "$stamp" ] && cmp -s "$WORK/wheels/requirements.lock.new" "$WORK/wheels/requirements.lock"; then
  rm "$WORK/wheels/requirements.lock.new"
  echo "wheels: cached ($(ls "$WORK/wheels" | wc -l) files)"
  exit 0
fi
mv "$WORK/wheels/requirements.lock.new" "$WORK/wheels/requirements.lock"
rm -f "$stamp"
# The lock's environment markers, evaluated for the image's interpreter (bookworm's CPython
# 3.11.2 on x86_64 Linux), not the host's: e.g. async-timeout is needed below 3.11.3 only.
"$PYTHON" - "$WORK/wheels/requirements.lock" >"$WORK/requirements.target" <<'PY'
import sys
from packaging.requirements import Requirement

target = {
    "python_version": "3.11", "python_full_version": "3.11.2", "os_name": "posix",
    "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
}
for line in open(sys.argv[1]):
    if line.strip() and not line.startswith(("#", "-")):
        requirement = Requirement(line.strip())
        if requirement.marker is None or requirement.marker.evaluate(target):
            requirement.marker = None
            print(requirement)
PY
# Every manylinux tag bookworm's glibc 2.36 runs (pip does not widen a --platform by itself).
platforms="--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64"
for minor in $(seq 5 36); do platforms="$platforms --platform manylinux_2_${minor}_x86_64"; done
# pip from PyPI through uv, with the host's CA bundle (pip's own bundle may not trust a proxy).
"$UV" tool run --from 'pip>=25' pip download --quiet --disable-pip-version-check \
  --only-binary=:all: --python-version 3.11.2 --implementation cp --abi cp311 --abi abi3 \
  --abi none $platforms \
  --no-deps -r "$WORK/requirements.target" pip -d "$WORK/wheels"
touch "$stamp"
echo "wheels: $(ls "$WORK/wheels" | wc -l) files, $(du -sh "$WORK/wheels" | cut -f1)"
