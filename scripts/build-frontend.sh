#!/usr/bin/env bash
# Builds the web UI into frontend/dist (served by the API at "/"). Idempotent: installs
# node_modules only when package-lock.json changed and skips the build when dist/ is newer
# than every source file. FORCE=1 rebuilds anyway.
set -euo pipefail
cd "$(dirname "$0")/../frontend"

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

built=dist/index.html
if [ "${FORCE:-0}" != "1" ] && [ -f "$built" ]; then
  newer="$(find src index.html package-lock.json vite.config.ts tsconfig.json public \
    -newer "$built" -print -quit 2>/dev/null || true)"
  if [ -z "$newer" ]; then
    echo "build-frontend: dist/ is up to date"
    exit 0
  fi
fi
npm run build
