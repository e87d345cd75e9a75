import { makeWav } from "./audio";
import { chooseFile, expect, screenshot, test } from "./fixtures";
import { startServer, type RunningServer } from "./server";

test("a text file is refused as not audio", async ({ page }) => {
  await page.goto("/#/");
  await expect(page.getByLabel("Separation model")).toHaveValue("demucs_unittest");
  await chooseFile(page, { name: "notes.mp3", mimeType: "audio/mpeg", buffer: Buffer.from("this is not audio\n".repeat(100)) });
  const alert = page.locator('[data-testid="upload-item"]').first().getByRole("alert");
  await expect(alert).toHaveText(/^This is not an audio file we can read: upload MP3, .+\.$/); // said once
  await screenshot(page, "error-not-audio");

  // A refused upload does not stay: its × removes it from "This session".
  await page.getByRole("button", { name: "Dismiss notes.mp3" }).click();
  await expect(page.locator('[data-testid="upload-item"]')).toHaveCount(0);
  await expect(page.getByRole("heading", { name: "This session" })).toHaveCount(0);
});

test("a model that is not installed is shown disabled with its install hint, and refused", async ({ page }) => {
  const models: { name: string; installed: boolean; install_hint: string }[] = await (await page.request.get("/api/models")).json();
  const missing = models.find((m) => !m.installed);
  test.skip(!missing, "every model is installed on this server");
  await page.goto("/#/");
  const select = page.getByLabel("Separation model");
  await expect(select.locator(`option[value="${missing!.name}"]`)).toBeDisabled();
  await page.getByText(/not installed$/).first().click(); // open the <details>
  await expect(page.getByText(missing!.install_hint).first()).toBeVisible();

  // A model removed after the page loaded: the page still offers it, the server refuses it.
  await page.route("**/api/models", async (route) => {
    const response = await route.fetch();
    const list = (await response.json()) as { name: string; installed: boolean }[];
    await route.fulfill({ response, json: list.map((m) => (m.name === missing!.name ? { ...m, installed: true } : m)) });
  });
  await page.reload();
  await page.getByLabel("Separation model").selectOption(missing!.name);
  await chooseFile(page, { name: "sines.wav", mimeType: "audio/wav", buffer: makeWav(2) });
  const alert = page.locator('[data-testid="upload-item"]').first().getByRole("alert");
  await expect(alert).toContainText("That separation model is not installed on this server.");
  await expect(alert).toContainText(missing!.name);
});

test.describe("with small limits", () => {
  let small: RunningServer;
  test.beforeAll(async () => {
    small = await startServer("limits", { ISOMIX_MAX_UPLOAD_BYTES: "100000", ISOMIX_MAX_DURATION_SECONDS: "1" });
  });
  test.afterAll(async () => {
    await small?.stop();
  });

  test("a file over the size limit is refused as too big", async ({ page }) => {
    await page.goto(`${small.url}/#/`);
    await expect(page.getByText(/Up to 100 KB and 1 second/)).toBeVisible();
    // The page knows the limit and refuses before sending anything...
    await chooseFile(page, { name: "big.wav", mimeType: "audio/wav", buffer: makeWav(3) }); // ~530 KB
    const alert = page.locator('[data-testid="upload-item"]').first().getByRole("alert");
    await expect(alert).toContainText("The file is too big.");
    await screenshot(page, "error-too-big");

    // ...and when the page's idea of the limit is stale, the server's 413 reads the same way.
    await page.route("**/api/config", async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, json: { ...(await response.json()), max_upload_bytes: 10 ** 9 } });
    });
    await page.reload();
    await chooseFile(page, { name: "big2.wav", mimeType: "audio/wav", buffer: makeWav(3) });
    const serverAlert = page.locator('[data-testid="upload-item"]').first().getByRole("alert");
    await expect(serverAlert).toContainText(/The file is too big\.|The upload was interrupted/);
  });

  test("a song over the duration limit is refused as too long", async ({ page }) => {
    await page.goto(`${small.url}/#/`);
    await chooseFile(page, { name: "long.wav", mimeType: "audio/wav", buffer: makeWav(2, 8000) }); // 64 KB, 2 s
    const item = page.locator('[data-testid="upload-item"]').first();
    await expect(item.getByRole("alert")).toContainText("The song is too long.");
  });
});
