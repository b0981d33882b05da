#!/usr/bin/env bash
# Download, on the host, the wheels of the locked runtime dependencies (uv.lock without the dev
# group) for CPython 3.11 on glibc x86_64 (bookworm: glibc 2.36), so the image build installs them
# with `pip install --no-index --find-links` and needs no package index.
# Usage: wheels.sh WORK_DIR. Cached: nothing is downloaded when the lock has not changed.
set -euo pipefail
WORK=$1
UV=${UV:-uv}
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
# Every manylinux tag bookworm's glibc 2.36 runs (pip does not widen a --platform by itself).
platforms="--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64"
for minor in $(seq 5 36); do platforms="$platforms --platform manylinux_2_${minor}_x86_64"; done
# pip from PyPI through uv, with the host's CA bundle (pip's own bundle may not trust a proxy).
"$UV" tool run --from 'pip>=25' pip download --quiet --disable-pip-version-check \
  --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 \
  --abi none $platforms \
  -r "$WORK/wheels/requirements.lock" pip -d "$WORK/wheels"
touch "$stamp"
echo "wheels: $(ls "$WORK/wheels" | wc -l) files, $(du -sh "$WORK/wheels" | cut -f1)"
