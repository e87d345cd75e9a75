#!/usr/bin/env bash
# Builds the web UI. Idempotent: installs node_modules only when package.json or
# package-lock.json changed and skips a build whose output is newer than every input.
# FORCE=1 rebuilds anyway.
#   scripts/build-frontend.sh        the production UI in frontend/dist (`isomix serve` serves it
#                                    at "/"; `make serve` calls this); never has test hooks
#   scripts/build-frontend.sh --e2e  the e2e tests' UI in frontend/dist-e2e: the same app plus the
#                                    window.__isomix hooks (vite --mode e2e, src/testing.ts)
set -euo pipefail
cd "$(dirname "$0")/../frontend"

case "${1:-}" in
  "") out=dist; script=build ;;
  --e2e) out=dist-e2e; script=build:e2e ;;
  *) echo "usage: $0 [--e2e]" >&2; exit 2 ;;
esac

if ! command -v npm >/dev/null 2>&1; then
  # The API runs without the UI (it shows a "not built" page at /), so this is not fatal.
  echo "build-frontend: npm not found; install Node.js 20+ to build the web UI (skipping)" >&2
  exit 0
fi

stamp=node_modules/.install-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  touch "$stamp"
fi

# Each build has its own output dir, so one being current says nothing about the other.
built="$out/index.html"
if [ "${FORCE:-0}" != "1" ] && [ -f "$built" ]; then
  # Every input of `vite build` in either mode: sources, config, dependencies, env files.
  # (A directory counts too: adding or deleting a file changes its parent's time.)
  newer="$(find src public index.html package.json package-lock.json vite.config.ts tsconfig.json \
    $(ls -d .env* 2>/dev/null) -newer "$built" -print -quit 2>/dev/null || true)"
  if [ -z "$newer" ]; then
    echo "build-frontend: $out/ is up to date"
    exit 0
  fi
fi
npm run "$script"
