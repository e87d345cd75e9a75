// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../lib/errors";
import { lastOpened, mixesApi, type NamedMix } from "./mixesApi";
import { initialMixState, parseMixState, toSavedSettings } from "./mixState";

const fetchMock = vi.fn<(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>>();
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

beforeEach(() => {
  fetchMock.mockReset();
  vi.stubGlobal("fetch", fetchMock);
});
afterEach(() => vi.unstubAllGlobals());

const request = (i: number) => fetchMock.mock.calls[i]![0] as Request;

describe("mixes client", () => {
  const settings = toSavedSettings(initialMixState(["vocals"]));
  const mix: NamedMix = { id: "m1", name: "Slow", settings, created_at: "2024-01-01T00:00:00Z", updated_at: "2024-01-01T00:00:00Z", opened_at: null };

  it("creates with a JSON body and opens, on the project's routes", async () => {
    fetchMock.mockResolvedValueOnce(json(201, mix)).mockResolvedValueOnce(json(200, { ...mix, opened_at: "2024-01-02T00:00:00Z" }));
    expect(await mixesApi.create("p 1", "Slow", settings)).toEqual(mix);
    const post = request(0);
    expect([post.method, new URL(post.url).pathname]).toEqual(["POST", "/api/projects/p%201/mixes"]);
    expect(post.headers.get("Content-Type")).toBe("application/json");
    expect(await post.json()).toEqual({ name: "Slow", settings });
    expect((await mixesApi.open("p 1", "m1")).opened_at).toBe("2024-01-02T00:00:00Z");
    expect([request(1).method, new URL(request(1).url).pathname]).toEqual(["POST", "/api/projects/p%201/mixes/m1/open"]);
  });

  it("renames with PATCH and deletes (204, no body)", async () => {
    fetchMock.mockResolvedValueOnce(json(200, { ...mix, name: "Slower" })).mockResolvedValueOnce(new Response(null, { status: 204 }));
    expect((await mixesApi.update("p", "m1", { name: "Slower" })).name).toBe("Slower");
    expect(request(0).method).toBe("PATCH");
    expect(await request(0).json()).toEqual({ name: "Slower" });
    await expect(mixesApi.remove("p", "m1")).resolves.toBeUndefined();
    expect([request(1).method, new URL(request(1).url).pathname]).toEqual(["DELETE", "/api/projects/p/mixes/m1"]);
  });

  it("turns a refusal into an ApiError with its code", async () => {
    fetchMock.mockResolvedValueOnce(json(409, { detail: "There is already a mix with that name.", code: "name_taken" }));
    const error = await mixesApi.create("p", "Slow", settings).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect([(error as ApiError).status, (error as ApiError).code]).toEqual([409, "name_taken"]);
  });

  it("knows the mix opened last", () => {
    const a = { ...mix, id: "a", opened_at: "2024-01-02T10:00:00Z" };
    const b = { ...mix, id: "b", opened_at: "2024-01-02T10:00:00.5Z" };
    expect(lastOpened([a, b, mix])?.id).toBe("b");
    expect(lastOpened([mix])).toBeNull();
  });
});

describe("saved settings", () => {
  it("round-trip through the API's snake_case, unknown stems dropped and numbers clamped", () => {
    const state = { ...initialMixState(["vocals", "drums"]), tempo: 0.75, pitchSemitones: -2, countInBars: 1 };
    state.stems.vocals = { gainDb: -6, mute: false, solo: true, pan: -0.5 };
    state.sections = [{ name: "Verse", start: 12 }];
    state.loop = { start: 12, end: 30 };
    state.loopEnabled = true;
    const saved = toSavedSettings(state);
    expect(saved.stems.vocals).toEqual({ gain_db: -6, mute: false, solo: true, pan: -0.5 });
    expect(saved).toMatchObject({ tempo: 0.75, pitch_semitones: -2, count_in_bars: 1, loop: { start: 12, end: 30 } });
    // The loop's on/off is not saved: an opened mix has its loop, off.
    expect(parseMixState(saved, ["vocals", "drums"])).toEqual({ ...state, loopEnabled: false });
    const odd = parseMixState({ ...saved, tempo: 9, stems: { guitar: { gain_db: 1 } }, sections: [{ name: "x", start: -1 }, { start: 5 }] }, ["vocals"]);
    expect([odd.tempo, Object.keys(odd.stems), odd.sections]).toEqual([1.5, ["vocals"], [{ name: "", start: 5 }]]);
  });

  it("reads the camelCase working state kept in localStorage, loop on included", () => {
    const state = { ...initialMixState(["bass"]), loop: { start: 1, end: 3 }, loopEnabled: true, tempo: 1.25 };
    expect(parseMixState(JSON.parse(JSON.stringify(state)), ["bass"])).toEqual(state);
    // An old entry (stems and master only) keeps its levels and gets the defaults.
    expect(parseMixState({ stems: { bass: { gainDb: -3, mute: true, solo: false, pan: 0 } }, masterGainDb: 2 }, ["bass"])).toEqual({
      ...initialMixState(["bass"]),
      stems: { bass: { gainDb: -3, mute: true, solo: false, pan: 0 } },
      masterGainDb: 2,
    });
  });
});
