#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real (Redis, PostgreSQL, nginx, promtool, Chromium) when
# they are missing. Needs root (or sudo); prints what it would need otherwise.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Debian puts nginx in /usr/sbin, which a user's PATH may lack.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# promtool checks deploy/'s Prometheus config and alert rules (tests/unit/test_monitoring_deploy.py).
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
