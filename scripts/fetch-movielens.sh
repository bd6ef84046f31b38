#!/usr/bin/env bash
# Fetches MovieLens-100K from the PyPI wheel recbole==1.2.1 (recbole/dataset_example/ml-100k/)
# into data/ml-100k/ (git-ignored: its licence forbids redistribution, so it is never
# committed). Skips the download when the files are already there.
#
# Usage: scripts/fetch-movielens.sh [DEST]     (default data/ml-100k)
source "$(dirname "$0")/common.sh"
DEST="${1:-$REPO_ROOT/data/ml-100k}"
if [ -s "$DEST/ml-100k.inter" ] && [ -s "$DEST/ml-100k.item" ]; then
  echo "MovieLens-100K already in $DEST"
  exit 0
fi
WHEELS="$RESONANCE_CACHE/wheels"
mkdir -p "$WHEELS" "$DEST"
if ! ls "$WHEELS"/recbole-1.2.1-*.whl >/dev/null 2>&1; then
  step "downloading the recbole==1.2.1 wheel from PyPI"
  need_python_venv
  python3 -m pip download --quiet --no-deps --only-binary=:all: recbole==1.2.1 -d "$WHEELS"
fi
step "extracting ml-100k into $DEST"
python3 - "$WHEELS" "$DEST" <<'PY'
import glob, os, sys, zipfile
wheels, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(sorted(glob.glob(os.path.join(wheels, "recbole-1.2.1-*.whl")))[0])
prefix = "recbole/dataset_example/ml-100k/"
for name in ("ml-100k.inter", "ml-100k.item", "ml-100k.user"):
    tmp = os.path.join(dest, name + ".partial")
    with open(tmp, "wb") as out:
        out.write(wheel.read(prefix + name))
    os.replace(tmp, os.path.join(dest, name))
print("extracted", ", ".join(sorted(os.listdir(dest))))
PY
