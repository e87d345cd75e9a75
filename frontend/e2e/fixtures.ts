import { test as base, expect, type Locator, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ARTIFACTS_DIR } from "./server";

export const SCREENSHOTS_DIR = join(ARTIFACTS_DIR, "screenshots");

// The server URL is only known after globalSetup, so baseURL comes from a fixture.
export const test = base.extend<{ serverUrl: string }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's dependencies from this object pattern; it needs none, but the pattern must be there
  serverUrl: async ({}, use) => {
    const url = process.env.ISOMIX_E2E_URL;
    if (!url) throw new Error("ISOMIX_E2E_URL is not set (globalSetup did not start the server)");
    await use(url);
  },
  baseURL: async ({ serverUrl }, use) => use(serverUrl),
});

export { expect };

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const path = join(SCREENSHOTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

export interface UploadFile {
  name: string;
  mimeType: string;
  buffer: Buffer;
}

/** Picks a file on the upload page (the hidden input behind "Choose audio files…"). */
export async function chooseFile(page: Page, file: UploadFile): Promise<void> {
  await page.locator('[data-testid="file-input"]').setInputFiles(file);
}

/** Waits (through the UI) until the newest upload is ready; returns its project id. */
export async function waitUploadReady(page: Page, timeoutMs = 150_000): Promise<string> {
  const item = page.locator('[data-testid="upload-item"]').first();
  try {
    await expect(item.locator('[data-testid="project-status"]')).toHaveAttribute("data-status", "ready", { timeout: timeoutMs });
  } catch (error) {
    // CI shows only the test's output: say what the item showed instead of a bare timeout.
    const shown = await item.innerText({ timeout: 1_000 }).catch(() => "(no upload item)");
    throw new Error(`the upload did not get ready; its item shows: ${JSON.stringify(shown)}`, { cause: error });
  }
  const link = item.getByRole("link", { name: "Open in the mixer" });
  const href = await link.getAttribute("href");
  return decodeURIComponent(href!.split("/projects/")[1]!);
}

/** The level a meter shows now (0..1: its bar's scaleX), e.g. the master meter's: the mixer's output. */
export async function meterLevel(meter: Locator): Promise<number> {
  const transform = await meter.locator(".meter-bar").evaluate((bar) => (bar as HTMLElement).style.transform);
  const match = /scaleX\(([\d.]+)\)/.exec(transform);
  return match ? Number(match[1]) : 0;
}
