// A sentence for the next page to say, about the project it opens ("You already have this
// song: opened it."): left by the page that navigates, shown once by the page it opens.
import { useEffect, useState } from "react";

const notices = new Map<string, string>();

export function leaveNotice(projectId: string, text: string): void {
  notices.set(projectId, text);
}

/** The notice left for this project, if any; it is shown by this page only. */
export function useNotice(projectId: string): string | null {
  // Read without taking it (React may run this twice); forgotten once the page has it.
  const [text] = useState(() => notices.get(projectId) ?? null);
  useEffect(() => {
    notices.delete(projectId);
  }, [projectId]);
  return text;
}
