#!/usr/bin/env node
// Web UI budgets, printed as ratios (never a pass/fail on time):
//  1. gzipped JS in frontend/dist against 250 KB (exit 1 when over: size is deterministic);
//  2. with a running server (--url, or ISOMIX_URL) that has a ready ~4-minute project
//     (--project ID, or the longest ready one): time from "stems ready" (the mixer starts
//     loading a ready project: performance mark mixer-load-start) to "mixer ready to play"
//     (mark mixer-ready), in Debian's Chromium via Playwright, against a 3 s budget.
// Usage: node bench/ui_budget.mjs [--url http://127.0.0.1:8000] [--project ID] [--runs 3]
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const JS_BUDGET_BYTES = 250 * 1024;
const LOAD_BUDGET_MS = 3000;
const here = dirname(fileURLToPath(import.meta.url));
const frontend = resolve(here, "../frontend");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function bundleSize() {
  const assets = join(frontend, "dist/assets");
  if (!existsSync(assets)) throw new Error("frontend/dist is not built: run scripts/build-frontend.sh");
  let raw = 0;
  let gz = 0;
  for (const name of readdirSync(assets).filter((n) => n.endsWith(".js"))) {
    const bytes = readFileSync(join(assets, name));
    raw += bytes.length;
    gz += gzipSync(bytes).length; // default level, as servers and Vite report it
  }
  return { raw, gz };
}

async function pickProject(url, wanted) {
  if (wanted) return (await (await fetch(`${url}/api/projects/${wanted}`)).json());
  const list = await (await fetch(`${url}/api/projects?limit=100`)).json();
  const ready = list.items.filter((p) => p.status === "ready").sort((a, b) => (b.duration_seconds ?? 0) - (a.duration_seconds ?? 0));
  return ready[0] ?? null;
}

async function mixerLoadTimes(url, project, runs) {
  const { chromium } = await import(pathToFileURL(join(frontend, "node_modules/playwright-core/index.mjs")).href);
  const browser = await chromium.launch({
    executablePath: process.env.ISOMIX_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  const times = [];
  const completes = [];
  try {
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext(); // a cold HTTP cache every run
      const page = await context.newPage();
      await page.goto(`${url}/#/projects/${project.id}`);
      await page.waitForSelector('[data-testid="mixer"][data-ready="true"]', { timeout: 120_000 });
      const ms = await page.evaluate(() => performance.getEntriesByName("mixer-load", "measure").at(-1)?.duration ?? NaN);
      // Long songs play from their decoded beginning; the whole stems follow (mixer-load-complete).
      const complete = await page
        .waitForFunction(() => performance.getEntriesByName("mixer-load-complete", "measure").at(-1)?.duration, null, { timeout: 60_000 })
        .then((h) => h.jsonValue())
        .catch(() => ms);
      times.push(ms);
      completes.push(complete);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return { times, completes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const { raw, gz } = bundleSize();
console.log(`js bundle: ${(gz / 1024).toFixed(1)} KB gzipped (${(raw / 1024).toFixed(1)} KB raw); budget ${JS_BUDGET_BYTES / 1024} KB; ratio ${(gz / JS_BUDGET_BYTES).toFixed(2)}`);

const url = arg("url", process.env.ISOMIX_URL);
if (!url) {
  console.log("mixer load: skipped (no --url / ISOMIX_URL of a running server)");
} else {
  const project = await pickProject(url.replace(/\/$/, ""), arg("project"));
  if (!project || project.status !== "ready") {
    console.log("mixer load: skipped (no ready project on the server; upload a ~4-minute song first)");
  } else {
    const runs = Number(arg("runs", "3"));
    const { times, completes } = await mixerLoadTimes(url.replace(/\/$/, ""), project, runs);
    const m = median(times);
    console.log(
      `mixer load (stems ready -> mixer ready to play), ${project.stems.length} stems, ${(project.duration_seconds ?? 0).toFixed(0)} s song: ` +
        `median ${m.toFixed(0)} ms of ${times.map((t) => t.toFixed(0)).join(", ")}; budget ${LOAD_BUDGET_MS} ms; ratio ${(m / LOAD_BUDGET_MS).toFixed(2)}`,
    );
    console.log(`whole stems decoded (swapped in while playing): median ${median(completes).toFixed(0)} ms of ${completes.map((t) => t.toFixed(0)).join(", ")}`);
  }
}
process.exit(gz > JS_BUDGET_BYTES ? 1 : 0);
