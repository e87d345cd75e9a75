import { errorMessage } from "../lib/errors";

/** An error in words, announced to screen readers (role=alert). */
export function ErrorNotice({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  const { title, detail } = errorMessage(error);
  return (
    <div className="notice notice-error" role="alert">
      <strong>{title}</strong>
      {detail && <span> {detail}</span>}
      {onDismiss && (
        <button type="button" className="link-button" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
