import { makeWav } from "./audio";
import { chooseFile, expect, screenshot, test, waitUploadReady } from "./fixtures";

test("sections, a section's loop, undo and redo, zoom, and a named mix that opens after a reload", async ({ page }) => {
  await page.goto("/#/");
  await chooseFile(page, { name: "practice.wav", mimeType: "audio/wav", buffer: makeWav(8) });
  const projectId = await waitUploadReady(page);
  await page.goto(`/#/projects/${projectId}`);
  await expect(page.locator('[data-testid="mixer"][data-ready="true"][data-mode="full"]')).toBeVisible({ timeout: 30_000 });
  const sections = page.getByTestId("section-row");
  const transportLoop = page.getByRole("group", { name: "Transport" }).locator(".loop-controls button.toggle");

  // A section at the start with the button; then, keyboard only: seek 5 s, N adds a second
  // section at the playhead, L loops it, Ctrl+Z takes the loop back, Ctrl+Shift+Z redoes it.
  await page.getByTestId("add-section").click();
  await expect(sections).toHaveCount(1);
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("n");
  await expect(sections).toHaveCount(2);
  await expect(sections.nth(1).getByRole("button", { name: /^Go to Section 2 at 0:05$/ })).toBeVisible();
  await page.keyboard.press("l");
  await expect(transportLoop).toHaveText("Loop 0:05–0:08");
  await expect(transportLoop).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByRole("button", { name: "Loop Section 2" })).toHaveAttribute("aria-pressed", "true");
  await page.keyboard.press("Control+z");
  await expect(transportLoop).toHaveText("Loop"); // the loop is gone, the sections stay
  await expect(transportLoop).toHaveAttribute("aria-pressed", "false");
  await expect(sections).toHaveCount(2);
  await page.keyboard.press("Control+Shift+z");
  await expect(transportLoop).toHaveText("Loop 0:05–0:08");
  // Undo and redo by button too.
  await page.getByTestId("undo").click();
  await expect(transportLoop).toHaveText("Loop");
  await page.getByTestId("redo").click();
  await expect(transportLoop).toHaveAttribute("aria-pressed", "true");

  // Rename the second section (Enter commits), loop the first by button.
  const name = page.getByLabel("Name of the section at 0:05");
  await name.fill("Chorus");
  await name.press("Enter");
  await expect(page.getByRole("button", { name: "Loop Chorus" })).toHaveAttribute("aria-pressed", "true");
  await page.getByRole("button", { name: "Loop Section 1" }).click();
  await expect(transportLoop).toHaveText("Loop 0:00–0:05");

  // Zoom with the + key and back with the button.
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("+");
  await expect(page.getByTestId("zoom-level")).toHaveText("1.5×");
  await expect(page.getByLabel("Waveform scroll")).toBeEnabled();
  await page.getByRole("button", { name: "Zoom out" }).click();
  await expect(page.getByTestId("zoom-level")).toHaveText("1.0×");
  await screenshot(page, "practice-sections");

  // Save as a named mix from the keyboard (the field's Enter submits).
  await page.getByTestId("mix-name").focus();
  await page.keyboard.type("Chorus practice");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("current-mix")).toHaveText("Chorus practice");
  await expect(page.getByTestId("mix-row")).toHaveText(/Chorus practice/);
  const listed = await (await page.request.get(`/api/projects/${projectId}/mixes`)).json();
  expect(listed.map((m: { name: string; opened_at: string | null }) => [m.name, m.opened_at !== null])).toEqual([["Chorus practice", true]]);
  expect(listed[0].settings.sections.map((s: { name: string }) => s.name)).toEqual(["Section 1", "Chorus"]);

  // A reload with the browser's working mix gone: the mix opened last comes from the server.
  await page.evaluate(() => window.localStorage.clear());
  await page.reload();
  await expect(page.locator('[data-testid="mixer"][data-ready="true"]')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId("current-mix")).toHaveText("Chorus practice");
  await expect(sections).toHaveCount(2);
  await expect(page.getByLabel("Name of the section at 0:05")).toHaveValue("Chorus");
  await expect(transportLoop).toHaveText("Loop 0:00–0:05"); // kept, and off until asked for
  await expect(page.getByTestId("mix-row")).toHaveAttribute("aria-current", "true");
  await expect(page.getByTestId("undo")).toBeDisabled(); // opening at start is no step to undo
  await screenshot(page, "practice-reloaded");
});
