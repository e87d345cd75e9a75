// ESLint (flat config): `npm run lint`. typescript-eslint's recommended rules for the TypeScript,
// the React hooks rules (incl. the React Compiler's) for the UI, ESLint's own for the scripts.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig([
  // Built output, dependencies, test output, and the generated API client (scripts/gen-client.sh).
  globalIgnores(["dist/", "dist-e2e/", "node_modules/", "test-artifacts/", "src/client/"]),
  {
    files: ["**/*.{js,mjs,ts,tsx}"],
    extends: [js.configs.recommended],
  },
  {
    files: ["**/*.{ts,tsx}"],
    extends: [tseslint.configs.recommended],
  },
  {
    // The app: runs in the browser.
    files: ["src/**/*.{ts,tsx}"],
    extends: [reactHooks.configs.flat.recommended],
    languageOptions: { globals: globals.browser },
  },
  {
    // Build config, e2e tests (Playwright in Node) and scripts.
    files: ["*.{js,mjs,ts}", "e2e/**/*.ts", "scripts/**/*.{js,mjs}"],
    languageOptions: { globals: globals.node },
  },
]);
