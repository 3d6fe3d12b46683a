#!/usr/bin/env bash
# Install Debian's chromium for the report's browser test when it is missing (root + apt only).
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[xtiny] installing Debian chromium for the browser test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/tmp/xtiny-chromium-install.log 2>&1 \
    || echo "[xtiny] chromium install failed (see /tmp/xtiny-chromium-install.log); the browser test will fail"
else
  echo "[xtiny] chromium missing and cannot be installed here (needs root + apt); the browser test will fail"
fi
exit 0
