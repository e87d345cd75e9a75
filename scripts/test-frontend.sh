#!/usr/bin/env bash
# The web UI's checks: the production build carries no test hooks, types, unit tests (Vitest),
# the generated client is current, and the end-to-end tests in Debian's Chromium against the
# real server (on the e2e build, frontend/dist-e2e, which its global setup builds).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build-frontend.sh"
cd "$root/frontend"
npm run check-bundle
npm run typecheck
npm test
npm run check-client
npm run e2e
