// @vitest-environment happy-dom
// Single mode looks as before (no sign-in, no account menu); accounts mode with a refused
// refresh shows the sign-in page and only Sign in / Sign up in the header.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { App } from "./App";
import { api } from "./lib/api";
import { resetAuthForTests } from "./lib/auth";
import { me, PRO } from "./lib/plans.test-util";
import type { PublicConfig } from "./lib/types";

vi.mock("./lib/api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./lib/api")>();
  return { ...actual, api: { ...actual.api, config: vi.fn(), models: vi.fn(), me: vi.fn() } };
});

const CONFIG: PublicConfig = {
  default_model: "demucs_unittest",
  max_upload_bytes: 1e8,
  max_duration_seconds: 600,
  accepted_formats: ["WAV"],
  accepted_extensions: [".wav"],
  auth_mode: "single",
  signup: true,
};

let container: HTMLDivElement;
let root: Root;

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !until(); i++) await act(async () => new Promise((r) => setTimeout(r, 0)));
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  resetAuthForTests();
  window.location.hash = "#/";
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
  vi.mocked(api.models).mockResolvedValue([]);
  vi.mocked(api.me).mockResolvedValue({ ...me({ ...PRO, name: "owner", title: "Owner" }), auth_mode: "single" });
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
  vi.unstubAllGlobals();
});

const navText = () => [...container.querySelectorAll("header a, header button")].map((e) => e.textContent);

it("single mode: the upload page at once, the same header as ever, no refresh asked for", async () => {
  vi.mocked(api.config).mockResolvedValue(CONFIG);
  const fetchMock = vi.fn();
  vi.stubGlobal("fetch", fetchMock);
  await act(async () => root.render(<App />));
  await settle(() => container.querySelector("h1")?.textContent === "Separate a song into stems");
  expect(navText()).toEqual(["IsoMix Studio", "Upload", "Library"]);
  expect(fetchMock).not.toHaveBeenCalledWith("/api/auth/refresh", expect.anything());
});

it("accounts mode, not signed in: the sign-in page, and only Sign in / Sign up", async () => {
  vi.resetModules(); // a fresh page load (the boot runs once per module)
  const { App: FreshApp } = await import("./App");
  const { api: freshApi } = await import("./lib/api");
  vi.mocked(freshApi.config).mockResolvedValue({ ...CONFIG, auth_mode: "accounts" });
  const fetchMock = vi.fn(async () => new Response(JSON.stringify({ detail: "Not signed in.", code: "unauthenticated" }), { status: 401 }));
  vi.stubGlobal("fetch", fetchMock);
  await act(async () => root.render(<FreshApp />));
  await settle(() => container.querySelector("h1")?.textContent === "Sign in");
  expect(container.querySelector("h1")?.textContent).toBe("Sign in");
  expect(navText()).toEqual(["IsoMix Studio", "Sign in", "Sign up"]);
  expect(fetchMock).toHaveBeenCalledWith("/api/auth/refresh", expect.objectContaining({ method: "POST", credentials: "same-origin" }));
});
