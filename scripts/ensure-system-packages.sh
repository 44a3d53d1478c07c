#!/bin/sh
# Make sure the programs the slow tests start are on this machine: a headless-capable `chromium`
# (the browser tests), poppler's `pdftoppm` (the report's PDF is rasterised and its pixels checked),
# `redis-server` and PostgreSQL 15+ (the CeleryExecutor test), and a Java runtime for Spark's local
# mode (the kldrift.spark tests): Debian's OpenJDK 17, or 21 where the release has no 17 (Debian 13),
# both supported by Spark 4.
#
# Idempotent: installs only what is missing, with Debian's apt-get, when run as root; as any other
# user it says what is missing and exits 1 (CI must then install it itself).
set -eu

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v pdftoppm >/dev/null 2>&1 || missing="$missing poppler-utils"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || missing="$missing postgresql"
need_java=""
command -v java >/dev/null 2>&1 || need_java=yes

if [ -z "$missing" ] && [ -z "$need_java" ]; then
    echo "system packages: chromium, poppler-utils, redis-server, postgresql and java are there"
    exit 0
fi
if [ -n "$need_java" ]; then missing="$missing openjdk-17-jre-headless"; fi

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
if [ -n "$need_java" ] && ! apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then
    missing=$(echo "$missing" | sed 's/openjdk-17-jre-headless/openjdk-21-jre-headless/')
fi
# shellcheck disable=SC2086  # one word per package
apt-get install -y -q --no-install-recommends $missing
# Debian starts the services it installs where it can; the tests start their own, on free ports.
for service in redis-server postgresql; do
    if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
command -v chromium >/dev/null 2>&1 || { echo "ensure-system-packages: chromium is still not on PATH" >&2; exit 1; }
command -v redis-server >/dev/null 2>&1 || { echo "ensure-system-packages: redis-server is still not on PATH" >&2; exit 1; }
command -v pdftoppm >/dev/null 2>&1 || { echo "ensure-system-packages: pdftoppm is still not on PATH" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "ensure-system-packages: java is still not on PATH" >&2; exit 1; }
echo "system packages installed:$missing"
