import { expect, it } from "vitest";
import { href, parseRoute } from "./router";

it("parses the three pages", () => {
  expect(parseRoute("")).toEqual({ name: "upload" });
  expect(parseRoute("#/")).toEqual({ name: "upload" });
  expect(parseRoute("#/library/")).toEqual({ name: "library" });
  expect(parseRoute("#/projects/abc-123")).toEqual({ name: "mixer", projectId: "abc-123" });
  expect(parseRoute("#/admin")).toEqual({ name: "admin" });
  expect(href({ name: "admin" })).toBe("#/admin");
  expect(parseRoute("#/nope")).toEqual({ name: "not_found", path: "/nope" });
});

it("href and parseRoute round-trip", () => {
  const route = { name: "mixer", projectId: "a b/c" } as const;
  expect(parseRoute(href(route))).toEqual(route);
});
