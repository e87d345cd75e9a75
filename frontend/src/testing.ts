// Hooks for the end-to-end tests (the parity test renders in the page with the app's own graph).
// Only the e2e build installs them (`vite build --mode e2e`, into dist-e2e/): main.tsx calls
// installTestHooks() behind `import.meta.env.MODE === "e2e"`, so in every other build the call
// is dead code and this module (free of side effects) is left out of the bundle. The production
// build fails if `__isomix` or this module reaches it (vite.config.ts, scripts/check-bundle.mjs).
import { renderMixOffline } from "./audio/offline";
import { dbToGain } from "./audio/mixmath";
import { loadStemBuffers } from "./features/mixer/loadStems";

export const testing = { renderMixOffline, dbToGain, loadStemBuffers };

declare global {
  interface Window {
    __isomix?: typeof testing;
  }
}

export function installTestHooks(): void {
  window.__isomix = testing;
}
