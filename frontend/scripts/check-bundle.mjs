#!/usr/bin/env node
// Fails when the production build (dist/, what `isomix serve` ships) carries the e2e test hooks:
// the `__isomix` global from src/testing.ts belongs in the e2e build (dist-e2e/) only.
// Usage: node scripts/check-bundle.mjs [DIR]   (default: dist)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const frontend = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dir = resolve(frontend, process.argv[2] ?? "dist");
const MARKER = "__isomix";

if (!existsSync(join(dir, "index.html"))) {
  console.error(`check-bundle: ${relative(frontend, dir)}/index.html is missing: run npm run build`);
  process.exit(1);
}
const leaks = readdirSync(dir, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile())
  .map((entry) => join(entry.parentPath, entry.name))
  .filter((path) => readFileSync(path).includes(MARKER));
if (leaks.length > 0) {
  console.error(`check-bundle: the e2e test hooks (${MARKER}) leaked into the production build:`);
  for (const path of leaks) console.error(`  ${relative(frontend, path)}`);
  process.exit(1);
}
console.log(`check-bundle: ${relative(frontend, dir)}/ carries no ${MARKER}`);
