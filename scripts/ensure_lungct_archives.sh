#!/usr/bin/env bash
# Fetch the two pinned archives of `xtiny datasets lungct` (pycerr 2.5.1 wheel, pyradiomics 3.0.1 sdist; about
# 60 MB) into the download cache ($XTINY_CACHE, else ./xtiny_work/cache) so the real-archive test runs; pip
# downloads them (no install, no dependencies) and XTiny checks their sha256. Offline, the test skips.
# Usage: scripts/ensure_lungct_archives.sh [PYTHON]   (default .venv/bin/python)
set -u
cd "$(dirname "$0")/.." || exit 0
PY="${1:-.venv/bin/python}"
start=$(date +%s)
if out=$("$PY" -m xtiny datasets lungct --fetch-only 2>&1); then
  echo "$out" | grep -E "fetch|MB"
  echo "[xtiny] lungct archives ready in $(( $(date +%s) - start )) s"
else
  echo "$out" | tail -n 3
  echo "[xtiny] could not fetch the lungct archives; the real-archive lungct test will skip"
fi
exit 0
