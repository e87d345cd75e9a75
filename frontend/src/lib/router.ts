// A tiny hash router: "#/" upload, "#/library", "#/projects/<id>" mixer, "#/signin",
// "#/signup", "#/admin" (admins only), "#/account" (with "?checkout=success" after Stripe sends the user back). Hash routes need no
// server-side fallback, so the API can serve dist/ as plain static files.
import { useEffect, useState } from "react";

export type Route =
  | { name: "upload" }
  | { name: "library" }
  | { name: "mixer"; projectId: string }
  | { name: "signin" }
  | { name: "signup" }
  | { name: "account"; checkout?: string }
  | { name: "admin" }
  | { name: "not_found"; path: string };

export function parseRoute(hash: string): Route {
  const [rawPath = "", query = ""] = hash.replace(/^#/, "").split("?", 2);
  const path = rawPath.replace(/\/+$/, "") || "/";
  if (path === "/") return { name: "upload" };
  if (path === "/library") return { name: "library" };
  if (path === "/signin") return { name: "signin" };
  if (path === "/signup") return { name: "signup" };
  if (path === "/admin") return { name: "admin" };
  if (path === "/account") {
    const checkout = new URLSearchParams(query).get("checkout");
    return checkout ? { name: "account", checkout } : { name: "account" };
  }
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
    case "signin":
      return "#/signin";
    case "signup":
      return "#/signup";
    case "admin":
      return "#/admin";
    case "account":
      return route.checkout ? `#/account?checkout=${encodeURIComponent(route.checkout)}` : "#/account";
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
