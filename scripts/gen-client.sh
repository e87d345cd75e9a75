#!/usr/bin/env bash
# Regenerates the browser's typed API client from the server's OpenAPI spec.
#   scripts/gen-client.sh          write frontend/openapi.json and frontend/src/client/
#   scripts/gen-client.sh --check  regenerate into a temp dir; fail if the committed files differ
# The spec comes from the app factory (isomix.api.app:create_app) when it imports; otherwise the
# committed frontend/openapi.json is used as it is (so the script also works without Python).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
frontend="$root/frontend"
python="${ISOMIX_PYTHON:-$root/.venv/bin/python}"
check=0
[ "${1:-}" = "--check" ] && check=1

out="$frontend"
if [ $check -eq 1 ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
  mkdir -p "$out/src/client"
  cp "$frontend/openapi.json" "$out/openapi.json"
fi

spec_cmd='import json; from isomix.api.app import create_app; print(json.dumps(create_app().openapi(), indent=2, sort_keys=True))'
if [ -x "$python" ] && "$python" -c 'import isomix.api.app' >/dev/null 2>&1; then
  # Settings must not need a real data directory just to describe the API.
  tmp_data="$(mktemp -d)"
  ISOMIX_DATA_DIR="$tmp_data" "$python" -c "$spec_cmd" > "$out/openapi.json.new"
  rm -rf "$tmp_data"
  mv "$out/openapi.json.new" "$out/openapi.json"
elif [ "${CI:-}" = "true" ]; then
  echo "gen-client: isomix.api.app does not import with $python; cannot check the client" >&2
  exit 1
else
  echo "gen-client: isomix.api.app not importable; using the committed frontend/openapi.json" >&2
fi

[ -d "$frontend/node_modules" ] || (cd "$frontend" && npm ci --silent)
mkdir -p "$out/src/client"
(cd "$frontend" && npx --no-install openapi-typescript "$out/openapi.json" -o "$out/src/client/schema.ts" >/dev/null)

if [ $check -eq 1 ]; then
  if diff -u "$frontend/openapi.json" "$out/openapi.json" && diff -ru "$frontend/src/client" "$out/src/client"; then
    echo "check-client: the committed client matches the OpenAPI spec"
  else
    echo "check-client: the committed client is stale; run scripts/gen-client.sh and commit" >&2
    exit 1
  fi
fi
