// A tiny hash router: "#/" upload, "#/library", "#/projects/<id>" mixer. Hash routes need no
// server-side fallback, so the API can serve dist/ as plain static files.
import { useEffect, useState } from "react";

export type Route =
  | { name: "upload" }
  | { name: "library" }
  | { name: "mixer"; projectId: string }
  | { name: "not_found"; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/\/+$/, "") || "/";
  if (path === "/") return { name: "upload" };
  if (path === "/library") return { name: "library" };
  const mixer = /^\/projects\/([^/]+)$/.exec(path);
  if (mixer) return { name: "mixer", projectId: decodeURIComponent(mixer[1]!) };
  return { name: "not_found", path };
}

export function href(route: Route): string {
  switch (route.name) {
    case "upload":
      return "#/";
    case "library":
      return "#/library";
    case "mixer":
      return `#/projects/${encodeURIComponent(route.projectId)}`;
    case "not_found":
      return `#${route.path}`;
  }
}

export function navigate(route: Route): void {
  window.location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
