/** A polite live region: screen readers read `text` whenever it changes. */
export function LiveAnnouncement({ text }: { text: string }) {
  return (
    <p className="visually-hidden" role="status" aria-live="polite">
      {text}
    </p>
  );
}
