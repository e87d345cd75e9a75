import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";

// The API server serves dist/ at "/"; in dev, Vite proxies the API to a local `isomix serve`.
const apiTarget = process.env.ISOMIX_API_URL ?? "http://127.0.0.1:8000";

/** The build the e2e tests serve: the app plus window.__isomix (src/testing.ts), in its own dir. */
const E2E_MODE = "e2e";

/**
 * Fails any other build that would ship the e2e test hooks: the `__isomix` global in the
 * code, or the src/testing.ts module in a chunk.
 */
function noTestHooks(): Plugin {
  return {
    name: "isomix-no-test-hooks",
    apply: "build",
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (file.type !== "chunk") continue;
        const testing = file.moduleIds.find((id) => /[\\/]src[\\/]testing\.ts$/.test(id));
        if (testing || file.code.includes("__isomix")) {
          this.error(`${file.fileName} carries the e2e test hooks (${testing ?? "__isomix"}); they belong in the "${E2E_MODE}" build only`);
        }
      }
    },
  };
}

export default defineConfig(({ mode }) => ({
  plugins: [react(), mode === E2E_MODE ? [] : noTestHooks()],
  base: "/",
  build: { outDir: mode === E2E_MODE ? "dist-e2e" : "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: {
      "/api": apiTarget,
      "/healthz": apiTarget,
    },
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
}));
