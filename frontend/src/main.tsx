import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./styles.css";
import { installTestHooks } from "./testing";

// The e2e build only (see testing.ts); elsewhere this is removed with the testing module.
if (import.meta.env.MODE === "e2e") installTestHooks();

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
