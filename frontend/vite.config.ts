import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The API server serves dist/ at "/"; in dev, Vite proxies the API to a local `isomix serve`.
const apiTarget = process.env.ISOMIX_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
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
});
