#!/usr/bin/env bash
# The web UI's static checks: ESLint and the TypeScript compiler (app and build config).
set -euo pipefail
cd "$(dirname "$0")/../frontend"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.install-stamp ]; then
  npm ci --no-audit --no-fund
  touch node_modules/.install-stamp
fi
npm run lint
npm run typecheck
