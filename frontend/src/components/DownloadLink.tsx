import type { AnchorHTMLAttributes, MouseEvent, ReactNode } from "react";
import { receivedAt } from "../lib/api";

/** Links older than this are asked for again before a download (signed links live ~15 min). */
export const FRESH_MS = 10 * 60_000;

interface Props extends Omit<AnchorHTMLAttributes<HTMLAnchorElement>, "href" | "onClick"> {
  href: string;
  /** The body the link came in (its age decides). */
  body: object;
  /** Ask the server for the body again; the fresh link, or null to use the old one. */
  refetch: () => Promise<string | null>;
  children: ReactNode;
}

/** A plain `<a download>` to a link from a body; when the body is old, the fresh link is used. */
export function DownloadLink({ href, body, refetch, children, download, ...rest }: Props) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    const at = receivedAt(body);
    if (at === undefined || Date.now() - at < FRESH_MS) return;
    e.preventDefault();
    void refetch()
      .catch(() => null)
      .then((fresh) => {
        const a = document.createElement("a");
        a.href = fresh ?? href;
        if (download !== undefined) a.download = typeof download === "string" ? download : "";
        document.body.append(a);
        a.click();
        a.remove();
      });
  };
  return (
    <a href={href} download={download} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
