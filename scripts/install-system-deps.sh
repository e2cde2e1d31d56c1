#!/usr/bin/env bash
# Installs the Debian packages the integration tests need, when they are missing:
# PostgreSQL and Redis (data tier), Chromium (browser check of the report).
# Needs root (as in CI); elsewhere it says what is missing and the tests that need it skip
# with that reason. The servers themselves are started and stopped by the test fixtures,
# on loopback, in temporary directories.
set -euo pipefail

missing=()
have_pg() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
have_pg || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})." >&2
  echo "install-system-deps: tests that need them will skip outside CI." >&2
  exit 0
fi
echo "install-system-deps: installing ${missing[*]} from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian postgresql package starts a cluster on port 5432; the tests run their own.
if command -v service >/dev/null 2>&1; then
  service postgresql stop >/dev/null 2>&1 || true
  service redis-server stop >/dev/null 2>&1 || true
fi
