import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import { api } from "../../lib/api";
import { formatDateTime } from "../../lib/status";
import type { TokenCreated, TokenInfo } from "../../lib/types";

/** API tokens for scripts (`Authorization: Bearer …`): list, create (secret shown once), revoke. */
export function TokensSection() {
  const id = useId();
  const [tokens, setTokens] = useState<TokenInfo[] | null>(null);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<TokenCreated | null>(null);
  const [copied, setCopied] = useState("");
  const [error, setError] = useState<unknown>(null);
  const secretRef = useRef<HTMLElement>(null);

  const load = useCallback(() => api.tokens().then(setTokens, setError), []);
  useEffect(() => {
    void load();
  }, [load]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setCopied("");
    try {
      const token = await api.createToken(name.trim() || "API token");
      setCreated(token);
      setName("");
      window.setTimeout(() => secretRef.current?.focus());
      await load();
    } catch (err) {
      setError(err);
    }
  };

  const revoke = async (token: TokenInfo) => {
    setError(null);
    try {
      await api.revokeToken(token.id);
      if (created?.id === token.id) setCreated(null);
      await load();
    } catch (err) {
      setError(err);
    }
  };

  const copy = async () => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.token);
      setCopied("Copied.");
    } catch {
      setCopied("Could not copy: select the token and copy it.");
    }
  };

  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>API tokens</h2>
      <p className="muted small">For scripts and the command line: send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
      <form className="token-form" onSubmit={(e) => void create(e)}>
        <div className="field">
          <label htmlFor={`${id}-name`}>Token name</label>
          <input id={`${id}-name`} type="text" autoComplete="off" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} placeholder="API token" />
        </div>
        <button type="submit">Create token</button>
      </form>
      {created && (
        <div className="notice notice-info" data-testid="token-secret">
          <p>
            <strong>Copy this token now: it is not shown again.</strong>
          </p>
          <p>
            <code ref={secretRef} tabIndex={-1} aria-label={`Token ${created.name}`}>
              {created.token}
            </code>{" "}
            <button type="button" onClick={() => void copy()}>
              Copy
            </button>{" "}
            <button type="button" className="link-button" onClick={() => setCreated(null)}>
              Done
            </button>
          </p>
          <p role="status" className="small">
            {copied}
          </p>
        </div>
      )}
      {error !== null && <ErrorNotice error={error} />}
      {tokens === null ? (
        <p aria-busy="true">Loading…</p>
      ) : tokens.length === 0 ? (
        <p>No tokens.</p>
      ) : (
        <ul className="list" aria-label="API tokens">
          {tokens.map((t) => (
            <li key={t.id} className="card row" data-testid="token-row">
              <span>
                <strong>{t.name}</strong> <code>{t.prefix}…</code>
                <span className="muted small">
                  {" "}
                  created {formatDateTime(t.created_at)}, {t.last_used_at ? `last used ${formatDateTime(t.last_used_at)}` : "never used"}
                  {t.revoked ? ", revoked" : ""}
                </span>
              </span>
              {!t.revoked && (
                <button type="button" className="danger" onClick={() => void revoke(t)} aria-label={`Revoke ${t.name}`}>
                  Revoke
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
