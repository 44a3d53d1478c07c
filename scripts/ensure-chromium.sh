#!/bin/sh
# Make sure a headless-capable `chromium` is on PATH (the report's browser test needs it).
#
# Idempotent: does nothing when `chromium` is already there. Otherwise installs
# the Debian package `chromium` with apt-get when run as root; as any other
# user it says why it cannot and exits 1 (CI must then install it itself).
set -eu

if command -v chromium >/dev/null 2>&1; then
    echo "chromium: $(command -v chromium)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-chromium: chromium is not on PATH and this is not root, so it cannot be installed here;" >&2
    echo "  run as root: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium is not on PATH and there is no apt-get (not Debian/Ubuntu);" >&2
    echo "  install Chromium with this system's package manager" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium
command -v chromium >/dev/null 2>&1 || { echo "ensure-chromium: apt-get ran but chromium is still not on PATH" >&2; exit 1; }
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
