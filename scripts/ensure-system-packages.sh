#!/bin/sh
# Make sure the programs the slow tests start are on this machine: a headless-capable `chromium`
# (the browser tests), poppler's `pdftoppm` (the report's PDF is rasterised and its pixels checked),
# `redis-server` and PostgreSQL 15+ (the CeleryExecutor test).
#
# Idempotent: installs only what is missing, with Debian's apt-get, when run as root; as any other
# user it says what is missing and exits 1 (CI must then install it itself).
set -eu

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v pdftoppm >/dev/null 2>&1 || missing="$missing poppler-utils"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || missing="$missing postgresql"

if [ -z "$missing" ]; then
    echo "system packages: chromium, poppler-utils, redis-server and postgresql are there"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-system-packages: missing:$missing; this is not root, so they cannot be installed here;" >&2
    echo "  run as root: apt-get update && apt-get install -y$missing" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-system-packages: missing:$missing and there is no apt-get (not Debian/Ubuntu);" >&2
    echo "  install them with this system's package manager" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # one word per package
apt-get install -y -q --no-install-recommends $missing
# Debian starts the services it installs where it can; the tests start their own, on free ports.
for service in redis-server postgresql; do
    if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
command -v chromium >/dev/null 2>&1 || { echo "ensure-system-packages: chromium is still not on PATH" >&2; exit 1; }
command -v redis-server >/dev/null 2>&1 || { echo "ensure-system-packages: redis-server is still not on PATH" >&2; exit 1; }
command -v pdftoppm >/dev/null 2>&1 || { echo "ensure-system-packages: pdftoppm is still not on PATH" >&2; exit 1; }
echo "system packages installed:$missing"
