import { useEffect, useRef, useState } from "react";

/** A shell command to run on the server, shown as code with a Copy button. Without the
 * clipboard API (a page served over plain http from another machine) the command is selected
 * for Ctrl+C instead. */
export function CommandLine({ command }: { command: string }) {
  const code = useRef<HTMLElement>(null);
  const [copied, setCopied] = useState<"" | "copied" | "selected">("");
  useEffect(() => {
    if (!copied) return;
    const timer = window.setTimeout(() => setCopied(""), 2500);
    return () => window.clearTimeout(timer);
  }, [copied]);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(command);
      setCopied("copied");
    } catch {
      const selection = window.getSelection();
      if (code.current && selection) {
        const range = document.createRange();
        range.selectNodeContents(code.current);
        selection.removeAllRanges();
        selection.addRange(range);
      }
      setCopied("selected");
    }
  };

  return (
    <div className="row command-line" style={{ justifyContent: "flex-start" }}>
      <code ref={code}>{command}</code>
      <button type="button" onClick={() => void copy()} aria-label={`Copy the command ${command}`}>
        Copy
      </button>
      <span className="muted small" role="status">
        {copied === "copied" ? "Copied." : copied === "selected" ? "Selected: press Ctrl+C to copy." : ""}
      </span>
    </div>
  );
}
