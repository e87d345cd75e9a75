import { useId, useRef, useState, type DragEvent } from "react";

interface Props {
  onFiles: (files: File[]) => void;
  disabled?: boolean;
  hint: string;
  /** The file picker's filter: the server's accepted file name endings (".mp3,.wav,…"). */
  accept?: string;
}

/** Drop files here, or press the button to pick them (keyboard and screen readers use that). */
export function DropZone({ onFiles, disabled, hint, accept }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const hintId = useId();

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (disabled) return;
    const files = [...e.dataTransfer.files];
    if (files.length) onFiles(files);
  };

  return (
    <div
      className={`dropzone${over ? " dropzone-over" : ""}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <p className="dropzone-title">Drop songs here</p>
      <p id={hintId} className="muted">{hint}</p>
      <button type="button" className="primary" disabled={disabled} onClick={() => input.current?.click()} aria-describedby={hintId}>
        Choose audio files…
      </button>
      <input
        ref={input}
        type="file"
        multiple
        accept={accept}
        className="visually-hidden"
        aria-hidden="true"
        data-testid="file-input"
        tabIndex={-1}
        onChange={(e) => {
          const files = [...(e.target.files ?? [])];
          e.target.value = ""; // picking the same file again still fires change
          if (files.length) onFiles(files);
        }}
      />
    </div>
  );
}
