// Accounts mode against a second server of its own (ISOMIX_AUTH_MODE=accounts): sign-up in the
// UI, the Free plan's daily limit at the upload, an admin's upgrade (the CLI), sign-out; and
// the sign-in surviving a reload while the access token stays in the page's memory only.
// An admin made with the CLI manages users in #/admin.
import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Page } from "@playwright/test";
import { makeWav } from "./audio";
import { chooseFile, expect, screenshot, test, waitUploadReady } from "./fixtures";
import { FRONTEND_DIR, startServer, type RunningServer } from "./server";

/** The model the e2e servers use (server.ts): the Free plan here includes it. */
const MODEL = "demucs_unittest";
const ISOMIX = process.env.ISOMIX_CLI ?? resolve(FRONTEND_DIR, "../.venv/bin/isomix");
const PASSWORD = "a long passphrase for the e2e test 7";

let server: RunningServer;
let plansDir: string;
let env: Record<string, string>;

test.describe.configure({ mode: "serial" });

test.beforeAll(async () => {
  plansDir = mkdtempSync(join(tmpdir(), "isomix-e2e-plans-"));
  const plansFile = join(plansDir, "plans.toml");
  writeFileSync(plansFile, `[free]\nuploads_per_day = 1\nmodels = ["${MODEL}", "classic"]\n`);
  env = { ISOMIX_AUTH_MODE: "accounts", ISOMIX_PLANS_FILE: plansFile };
  server = await startServer("accounts", env);
});

// eslint-disable-next-line no-empty-pattern -- Playwright reads a hook's fixtures from this pattern; it needs none
test.afterEach(async ({}, testInfo) => {
  // CI shows only the test output: a failure prints what the server said.
  if (testInfo.status !== testInfo.expectedStatus) console.log(`--- accounts server log (last lines) ---\n${server?.logTail()}`);
});

test.afterAll(async () => {
  await server?.stop();
  if (plansDir) rmSync(plansDir, { recursive: true, force: true });
});

function newEmail(): string {
  return `e2e-${Date.now()}-${randomInt(1e6)}@example.com`;
}

async function signUp(page: Page, email: string): Promise<string> {
  await page.goto(`${server.url}/#/`);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByRole("link", { name: "Create an account" }).click();
  await expect(page.getByRole("heading", { name: "Create an account" })).toBeVisible();
  await expect(page.getByLabel("Email")).toHaveAttribute("autocomplete", "email");
  await expect(page.getByLabel("Password")).toHaveAttribute("autocomplete", "new-password");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  const answer = page.waitForResponse((r) => r.url().endsWith("/api/auth/signup"));
  await page.getByRole("button", { name: "Create account" }).click();
  const body = (await (await answer).json()) as { access_token: string };
  await expect(page.getByTestId("signed-in-as")).toHaveText(email);
  await expect(page.getByRole("heading", { name: "Separate a song into stems" })).toBeVisible();
  return body.access_token;
}

test("a sign-in survives a reload (refresh cookie); the access token is never stored", async ({ page }) => {
  const email = newEmail();
  const token = await signUp(page, email);
  expect(token.length).toBeGreaterThan(20);

  await page.reload();
  await expect(page.getByTestId("signed-in-as")).toHaveText(email);
  await expect(page.getByRole("heading", { name: "Separate a song into stems" })).toBeVisible();

  const stored = await page.evaluate(() => ({
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
    cookie: document.cookie,
  }));
  for (const where of Object.values(stored)) expect(where).not.toContain(token.slice(-20));
  expect(stored.cookie).not.toContain("isomix_refresh"); // HttpOnly
  // The token after the reload (a refresh) is not stored either.
  const after = await page.evaluate(() => `${JSON.stringify({ ...localStorage })}${JSON.stringify({ ...sessionStorage })}${document.cookie}`);
  expect(after).not.toMatch(/eyJ[\w-]+\.[\w-]+/); // no JWT anywhere a script can read
});

test("Free: one upload a day, locked Pro options; the admin upgrades to Pro; sign-out", async ({ page }) => {
  const email = newEmail();
  await signUp(page, email);

  // Models outside the plan are listed, locked, with the reason.
  await expect(page.getByLabel("Separation model")).toHaveValue(MODEL);
  await expect(page.getByTestId("models-locked")).toContainText("Not in the Free plan");
  await expect(page.getByTestId("uploads-left")).toHaveText("1 of 1 uploads left today on the Free plan.");

  await chooseFile(page, { name: "first.wav", mimeType: "audio/wav", buffer: makeWav(2 + randomInt(1000) / 1000) });
  const projectId = await waitUploadReady(page);
  await expect(page.getByTestId("uploads-left")).toHaveText("0 of 1 uploads left today on the Free plan.");

  // The mixer: the FLAC downloads and the ZIP are shown locked, with the reason; the export
  // dialog locks WAV, FLAC and the higher MP3 bitrates.
  await page.goto(`${server.url}/#/projects/${projectId}`);
  await expect(page.locator('[data-testid="mixer"][data-ready="true"]')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId("zip-locked")).toBeVisible();
  await expect(page.getByText("FLAC stems and the ZIP are in Pro.")).toBeVisible();
  await page.getByTestId("open-export").click();
  await expect(page.getByRole("radio", { name: /WAV/ })).toBeDisabled();
  await expect(page.getByRole("radio", { name: /FLAC/ })).toBeDisabled();
  await expect(page.getByTestId("export-format-locked")).toContainText("WAV is in Pro");
  await expect(page.getByRole("option", { name: "320 kbps (Pro)" })).toBeDisabled();
  await screenshot(page, "accounts-free-export-locked");
  await page.getByRole("button", { name: "Close" }).click();

  // The library says how long the song is kept.
  await page.goto(`${server.url}/#/library`);
  await expect(page.getByTestId("expires").first()).toHaveText(/^in (23|24) h$/);

  // A second upload today: refused at the upload, with when the limit resets.
  await page.goto(`${server.url}/#/`);
  await chooseFile(page, { name: "second.wav", mimeType: "audio/wav", buffer: makeWav(2 + randomInt(1000) / 1000) });
  const refusal = page.locator('[data-testid="upload-item"]').first().getByRole("alert");
  await expect(refusal).toContainText("You have used today's uploads.");
  await expect(refusal).toContainText("The Free plan allows 1 upload a day");
  await expect(refusal).toContainText(/It resets (today|tomorrow) at/);
  await screenshot(page, "accounts-daily-limit");

  // The admin puts the user on Pro (the CLI, on the server's data directory).
  execFileSync(ISOMIX, ["users", "set-plan", email, "pro"], {
    env: { ...process.env, ISOMIX_DATA_DIR: server.dataDir, ...env },
    stdio: "pipe",
  });
  await page.reload();
  await expect(page.getByTestId("signed-in-as")).toHaveText(email);
  await expect(page.getByTestId("models-locked")).toHaveCount(0);
  await chooseFile(page, { name: "third.wav", mimeType: "audio/wav", buffer: makeWav(2 + randomInt(1000) / 1000) });
  await waitUploadReady(page);

  await page.getByRole("link", { name: "Account" }).click();
  await expect(page.getByTestId("account-plan")).toHaveText(/^Pro/);
  await expect(page.getByTestId("account-email")).toHaveText(email);
  await expect(page.getByTestId("account-uploads")).toHaveText(/^2 of \d+: \d+ left, resets (today|tomorrow) at /); // Pro's own daily limit
  await screenshot(page, "accounts-account-pro");

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(page).toHaveURL(/#\/signin$/);
  const status = await page.evaluate(() => fetch("/api/me").then((r) => r.status));
  expect(status).toBe(401);
  // And the refresh cookie is gone: a reload stays signed out.
  await page.reload();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
});

test("an admin (made with the CLI) creates a user and puts them on Pro in #/admin", async ({ page }) => {
  const admin = newEmail();
  execFileSync(ISOMIX, ["users", "create", admin, "--admin"], {
    env: { ...process.env, ISOMIX_DATA_DIR: server.dataDir, ...env },
    input: `${PASSWORD}\n`,
    stdio: ["pipe", "pipe", "pipe"],
  });
  await page.goto(`${server.url}/#/admin`);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByLabel("Email").fill(admin);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.locator('button[type="submit"]').click();
  await expect(page.getByTestId("signed-in-as")).toHaveText(admin);
  await page.getByRole("link", { name: "Admin" }).click();
  await expect(page.getByRole("heading", { name: "Admin", level: 1 })).toBeVisible();
  await expect(page.getByRole("row", { name: new RegExp(admin) })).toBeVisible();

  const other = newEmail();
  await page.getByLabel("Email", { exact: true }).fill(other);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByText(`Created ${other}.`)).toBeVisible();
  const row = page.getByRole("row", { name: new RegExp(other) });
  await expect(row.getByRole("cell").first()).toHaveText("Free");

  await page.getByLabel(`Plan for ${other}`, { exact: true }).selectOption("pro");
  const answer = page.waitForResponse((r) => r.url().includes("/api/admin/users/") && r.url().endsWith("/plan"));
  await page.getByRole("button", { name: `Set plan for ${other}` }).click();
  expect((await answer).status()).toBe(200);
  await expect(row.getByRole("cell").first()).toHaveText("Pro");
  await expect(row.getByRole("status")).toHaveText("Plan set.");
  await screenshot(page, "accounts-admin");

  // The CLI agrees.
  const listed = execFileSync(ISOMIX, ["users", "list"], { env: { ...process.env, ISOMIX_DATA_DIR: server.dataDir, ...env }, encoding: "utf8" });
  expect(listed.split("\n").find((line) => line.includes(other))).toMatch(/\bpro\b/);
});
