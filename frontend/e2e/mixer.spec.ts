import { makeWav } from "./audio";
import { chooseFile, expect, screenshot, test, waitUploadReady } from "./fixtures";

test("upload, separate, play, mute and solo, export MP3 and download", async ({ page }) => {
  await page.goto("/#/");
  await expect(page.getByRole("heading", { name: "Separate a song into stems" })).toBeVisible();
  await expect(page.getByLabel("Separation model")).toHaveValue("demucs_unittest");
  await screenshot(page, "upload");

  await chooseFile(page, { name: "sines.wav", mimeType: "audio/wav", buffer: makeWav(4) });
  const projectId = await waitUploadReady(page);

  // Library lists it as ready.
  await page.getByRole("navigation").getByRole("link", { name: "Library" }).click();
  const row = page.locator('[data-testid="project-row"]').filter({ hasText: "sines.wav" });
  await expect(row).toHaveAttribute("data-status", "ready");
  await screenshot(page, "library");

  // Mixer: one lane per stem, names from the API.
  await row.getByRole("link", { name: /Open sines.wav/ }).click();
  await expect(page).toHaveURL(new RegExp(`#/projects/${projectId}$`));
  const mixer = page.locator('[data-testid="mixer"][data-ready="true"]');
  await expect(mixer).toBeVisible({ timeout: 30_000 });
  const project = await (await page.request.get(`/api/projects/${projectId}`)).json();
  const names: string[] = project.stems.map((s: { name: string }) => s.name);
  expect(names.length).toBeGreaterThanOrEqual(2);
  for (const name of names) await expect(page.getByRole("group", { name: `${name} stem` })).toBeVisible();

  // Play: the clock moves.
  await page.getByRole("button", { name: "Play" }).click();
  await expect(page.getByRole("button", { name: "Pause" })).toBeVisible();
  await expect(page.locator(".time span").first()).not.toHaveText("0:00", { timeout: 5_000 });

  // Mute the first stem by button, solo the second with the keyboard (S on the focused lane).
  const [first, second] = names as [string, string];
  await page.getByRole("button", { name: `Mute ${first}` }).click();
  await expect(page.getByRole("button", { name: `Mute ${first}` })).toHaveAttribute("aria-pressed", "true");
  await page.getByRole("group", { name: `${second} stem` }).focus();
  await page.keyboard.press("s");
  await expect(page.getByRole("button", { name: `Solo ${second}` })).toHaveAttribute("aria-pressed", "true");
  for (const name of names) {
    const silent = name !== second;
    await expect(page.locator(`[data-testid="lane-${name}"]`)).toHaveClass(silent ? /lane-silent/ : /^(?!.*lane-silent).*$/);
  }
  // Space pauses.
  await page.keyboard.press(" ");
  await expect(page.getByRole("button", { name: "Play" })).toBeVisible();
  await screenshot(page, "mixer");

  // Export MP3 with the current mix.
  await page.getByTestId("open-export").click();
  const dialog = page.getByRole("dialog", { name: "Export your mix" });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel("Bitrate").selectOption("192");
  await screenshot(page, "export-dialog");
  await dialog.getByTestId("export-start").click();
  const download = dialog.getByTestId("export-download");
  await expect(download).toBeVisible({ timeout: 120_000 });

  const [file] = await Promise.all([page.waitForEvent("download"), download.click()]);
  const path = await file.path();
  const { statSync } = await import("node:fs");
  expect(statSync(path).size).toBeGreaterThan(0);
  const response = await page.request.get((await download.getAttribute("href"))!);
  expect(response.status()).toBe(200);
  expect(response.headers()["content-type"]).toMatch(/^audio\/mpeg/);
  expect((await response.body()).length).toBeGreaterThan(1000);
});
