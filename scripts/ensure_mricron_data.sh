#!/usr/bin/env bash
# Install Debian's mricron-data (Colin27 + AAL templates) for `xtiny datasets colin27` and its test when it is
# missing (root + apt only); `apt-get update` only when the install fails without it.
set -u
[ -f /usr/share/mricron/templates/ch2.nii.gz ] && [ -f /usr/share/mricron/templates/aal.nii.gz ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[xtiny] installing Debian mricron-data (Colin27 + AAL templates) for the colin27 dataset test..."
  export DEBIAN_FRONTEND=noninteractive
  (apt-get install -y -qq mricron-data || (apt-get update -qq && apt-get install -y -qq mricron-data)) \
    >/tmp/xtiny-mricron-data-install.log 2>&1 \
    || echo "[xtiny] mricron-data install failed (see /tmp/xtiny-mricron-data-install.log); the colin27 test will skip"
else
  echo "[xtiny] mricron-data missing and cannot be installed here (needs root + apt); the colin27 test will skip"
fi
exit 0
