// The upload page speaks for the server: the formats it accepts, and a song it already has.
import { randomInt } from "node:crypto";
import { inWords } from "../src/lib/words";
import { makeWav } from "./audio";
import { chooseFile, expect, screenshot, test, waitUploadReady } from "./fixtures";

test("the drop zone lists the formats the server accepts, as its refusals do", async ({ page, request }) => {
  const config = (await (await request.get("/api/config")).json()) as { accepted_formats: string[]; accepted_extensions: string[] };
  expect(config.accepted_formats.length).toBeGreaterThan(1);
  const formats = inWords(config.accepted_formats);

  await page.goto("/#/");
  await expect(page.locator(".dropzone")).toContainText(`${formats}. Up to`);
  await expect(page.getByTestId("file-input")).toHaveAttribute("accept", config.accepted_extensions.join(","));

  await chooseFile(page, { name: "notes.wav", mimeType: "audio/wav", buffer: Buffer.from("not audio at all\n".repeat(50)) });
  await expect(page.locator('[data-testid="upload-item"]').first().getByRole("alert")).toContainText(formats);
});

test("uploading a song again opens the one already in the library, and says so", async ({ page, request }) => {
  // New to this server (a rerun against a running one included): a length of its own.
  const name = `again-${randomInt(1e9)}.wav`;
  const song = { name, mimeType: "audio/wav", buffer: makeWav(2 + randomInt(10_000) / 10_000) };
  await page.goto("/#/");
  await expect(page.getByLabel("Separation model")).toHaveValue("demucs_unittest");
  await chooseFile(page, song);
  const projectId = await waitUploadReady(page);

  await chooseFile(page, song);
  await expect(page).toHaveURL(new RegExp(`#/projects/${projectId}$`));
  await expect(page.getByTestId("mixer-notice")).toHaveText("You already have this song: opened it.");
  await expect(page.locator('[data-testid="mixer"][data-ready="true"]')).toBeVisible({ timeout: 30_000 });
  await screenshot(page, "mixer-existing-song");

  const list = (await (await request.get("/api/projects?limit=100")).json()) as { items: { filename: string }[] };
  expect(list.items.filter((p) => p.filename === name)).toHaveLength(1);
});
