import { describe, expect, it } from "vitest";
import { stemLabel } from "./stemNames";

describe("stemLabel", () => {
  it("names the karaoke lane for what it holds", () => {
    expect(stemLabel("no_vocals")).toBe("Instrumental");
  });
  it("reads any other no_X as 'No X'", () => {
    expect(stemLabel("no_drums")).toBe("No drums");
    expect(stemLabel("no_bass")).toBe("No bass");
    expect(stemLabel("no_lead_guitar")).toBe("No lead guitar");
  });
  it("capitalises plain ids and spells out separators", () => {
    expect(stemLabel("vocals")).toBe("Vocals");
    expect(stemLabel("other")).toBe("Other");
    expect(stemLabel("lead_guitar")).toBe("Lead guitar");
    expect(stemLabel("piano-2")).toBe("Piano 2");
  });
  it("keeps an id with nothing to spell out", () => {
    expect(stemLabel("_")).toBe("_");
    expect(stemLabel("no_")).toBe("No");
  });
});
