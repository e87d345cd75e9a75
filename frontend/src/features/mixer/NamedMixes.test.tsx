// @vitest-environment happy-dom
// Named mixes: the one opened last opens with the mixer (not over a working mix that began as
// it), saving as a taken name says so, opening another is an undoable move.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { ApiError } from "../../lib/errors";
import { mixesApi, type NamedMix } from "./mixesApi";
import { saveOpenedMixId } from "./mixStorage";
import { initialMixState, toSavedSettings, type MixState } from "./mixState";
import { NamedMixes } from "./NamedMixes";

vi.mock("./mixesApi", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./mixesApi")>();
  return { ...actual, mixesApi: { list: vi.fn(), create: vi.fn(), update: vi.fn(), remove: vi.fn(), open: vi.fn() } };
});

const NAMES = ["vocals", "drums"];
const settingsWith = (gainDb: number) => {
  const state = initialMixState(NAMES);
  state.stems.vocals!.gainDb = gainDb;
  return toSavedSettings(state);
};
const mix = (id: string, name: string, openedAt: string | null, gainDb = 0): NamedMix => ({
  id,
  name,
  settings: settingsWith(gainDb),
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  opened_at: openedAt,
});

let root: Root;
let container: HTMLElement;
const onOpen = vi.fn<(mix: MixState, asStep: boolean) => void>();

async function render(list: NamedMix[]): Promise<void> {
  vi.mocked(mixesApi.list).mockResolvedValue(list);
  await act(async () => root.render(<NamedMixes projectId="p1" stemNames={NAMES} duration={60} mix={initialMixState(NAMES)} onOpen={onOpen} />));
}

beforeEach(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  localStorage.clear();
  onOpen.mockReset();
  for (const f of Object.values(mixesApi)) vi.mocked(f).mockReset();
  container = document.createElement("div");
  document.body.append(container);
  root = createRoot(container);
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

const text = (id: string) => container.querySelector(`[data-testid="${id}"]`)?.textContent;

it("opens the mix opened last, as a start (not an undo step)", async () => {
  await render([mix("a", "Loud", "2026-01-02T00:00:00Z", 6), mix("b", "Quiet", "2026-01-03T00:00:00Z", -12), mix("c", "Never", null)]);
  expect(onOpen).toHaveBeenCalledTimes(1);
  const [opened, asStep] = onOpen.mock.calls[0]!;
  expect([opened.stems.vocals!.gainDb, asStep]).toEqual([-12, false]);
  expect(localStorage.getItem("isomix:mix-opened:p1")).toBe("b");
  expect([...container.querySelectorAll('[data-testid="mix-row"]')].map((r) => r.querySelector(".mix-name")!.textContent)).toEqual(["Loud", "Never", "Quiet (open)"]);
});

it("keeps the working mix when it began as the mix opened last", async () => {
  saveOpenedMixId("p1", "b");
  await render([mix("b", "Quiet", "2026-01-03T00:00:00Z", -12)]);
  expect(onOpen).not.toHaveBeenCalled();
  expect(text("current-mix")).toBe("Quiet (unsaved changes)"); // the working mix is at 0 dB
});

it("says a name is taken, and opening another mix is an undoable move", async () => {
  await render([mix("a", "Loud", null, 6)]);
  vi.mocked(mixesApi.create).mockRejectedValue(new ApiError(409, "name_taken", "taken"));
  const input = container.querySelector<HTMLInputElement>('[data-testid="mix-name"]')!;
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!;
  await act(async () => {
    setter.call(input, "Loud");
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await act(async () => container.querySelector("form")!.requestSubmit());
  expect(container.querySelector('[role="alert"]')?.textContent).toContain("There is already a mix called “Loud”");

  vi.mocked(mixesApi.open).mockResolvedValue(mix("a", "Loud", "2026-01-04T00:00:00Z", 6));
  await act(async () => container.querySelector<HTMLButtonElement>('button[aria-label="Open Loud"]')!.click());
  expect(mixesApi.open).toHaveBeenCalledWith("p1", "a");
  const [opened, asStep] = onOpen.mock.calls.at(-1)!;
  expect([opened.stems.vocals!.gainDb, asStep]).toEqual([6, true]);
  expect(text("current-mix")).toBe("Loud (unsaved changes)"); // this test's mix prop stays at 0 dB
});
