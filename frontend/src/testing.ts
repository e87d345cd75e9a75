// Hooks for the end-to-end tests (the parity test renders in the page with the app's own graph).
import { renderMixOffline } from "./audio/offline";
import { dbToGain } from "./audio/mixmath";
import { loadStemBuffers } from "./features/mixer/loadStems";

export const testing = { renderMixOffline, dbToGain, loadStemBuffers };

declare global {
  interface Window {
    __isomix?: typeof testing;
  }
}

window.__isomix = testing;
