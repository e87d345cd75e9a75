import { defineConfig } from "@playwright/test";

// Debian's Chromium; Playwright's own browser download is never used.
export const CHROMIUM = process.env.ISOMIX_CHROMIUM ?? "/usr/bin/chromium";

export default defineConfig({
  testDir: ".",
  testMatch: /.*\.spec\.ts/,
  globalSetup: "./global-setup.ts",
  // One worker: the server separates on 2 CPU cores; parallel tests would only queue.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  outputDir: "../test-artifacts/e2e-output",
  use: {
    baseURL: process.env.ISOMIX_E2E_URL,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
      ],
    },
    trace: "off",
    screenshot: "only-on-failure",
  },
});
