import { describe, expect, it } from "vitest";
import { ApiError, apiErrorFrom, errorMessage, errorText, formatBytes } from "./errors";
import sizes from "./sizes.cases.json";

describe("API errors to messages", () => {
  it.each([
    [413, "too_large", "The file is too big."],
    [422, "too_long", "The song is too long."],
    [422, "corrupt_audio", "The audio file is damaged or could not be decoded."],
    [409, "model_not_installed", "That separation model is not installed on this server."],
    [409, "not_ready", "The stems are not ready yet."],
  ])("%s %s", (status, code, title) => {
    const err = apiErrorFrom(status, { detail: "server says why", code });
    expect(err.code).toBe(code);
    expect(errorMessage(err)).toEqual({ title, detail: "server says why" });
  });

  it("keeps the server's detail (limits, install command) in the text", () => {
    const err = apiErrorFrom(409, { detail: "Run: isomix models pull htdemucs_6s", code: "model_not_installed" });
    expect(errorText(err)).toContain("isomix models pull htdemucs_6s");
  });

  it("derives the code from the status when the body has none", () => {
    expect(apiErrorFrom(413, "Request Entity Too Large").code).toBe("too_large");
    expect(apiErrorFrom(503, null).code).toBe("server_error");
    expect(errorMessage(apiErrorFrom(503, null)).title).toBe("The server had a problem.");
  });

  it("flattens FastAPI's validation list", () => {
    const err = apiErrorFrom(422, { detail: [{ loc: ["body", "stems", "vocals", "pan"], msg: "less than or equal to 1" }] });
    expect(err.code).toBe("invalid_options");
    expect(err.detail).toBe("stems.vocals.pan: less than or equal to 1");
  });

  it("network failures read as connection problems", () => {
    expect(errorMessage(new TypeError("Failed to fetch")).title).toMatch(/reach the server/);
  });

  it("a file that is not audio is said once, in the server's words with its list of formats", () => {
    const detail = "This is not an audio file we can read: upload MP3, WAV or FLAC.";
    expect(errorText(apiErrorFrom(415, { detail, code: "unsupported_media" }))).toBe(detail);
    expect(errorText(apiErrorFrom(415, { code: "unsupported_media" }))).toBe("That file is not audio we can read.");
  });

  it("unknown codes still produce a sentence", () => {
    expect(errorMessage(new ApiError(418, "teapot", "short and stout")).title).toBe("Request refused (HTTP 418).");
  });
});

it("formats bytes", () => {
  for (const { bytes, text } of sizes.cases) expect(formatBytes(bytes)).toBe(text);
});
