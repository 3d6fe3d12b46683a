#!/usr/bin/env bash
# Fails when the workplace's `duplicates` tool finds copy-paste outside the declarative dataset modules
# (datasets/synth and datasets/converters are one plugin shape repeated on purpose). Skips where the tool is absent.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v duplicates >/dev/null 2>&1; then
  echo "check_duplicates: the 'duplicates' tool is not on this machine; skipped"
  exit 0
fi
out=$(duplicates --most 200 --seconds 60)
rows=$(printf '%s\n' "$out" | grep -E '^D[0-9]+ ' | grep -vE '^D[0-9]+ datasets/(synth|converters)/[^ ]+ ~ datasets/(synth|converters)/' || true)
if [ -n "$rows" ]; then
  printf 'check_duplicates: copy-paste outside the dataset plugins (merge it into one function):\n%s\n' "$rows"
  exit 1
fi
echo "check_duplicates: no copy-paste outside the dataset plugins"
