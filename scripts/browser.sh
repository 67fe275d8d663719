#!/usr/bin/env bash
# The browser the console tests drive: Debian's `chromium` (/usr/bin/chromium), installed
# with apt-get when missing. Playwright drives it through `executable_path`, so no browser
# build is downloaded.
set -euo pipefail

CHROMIUM="${PP_TEST_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
    echo "browser: $CHROMIUM is missing; install Debian's chromium (apt-get install chromium)" >&2
    exit 1
fi
echo "browser: installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >/dev/null
echo "browser: $("$CHROMIUM" --version)"
