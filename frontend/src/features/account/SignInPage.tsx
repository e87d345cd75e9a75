import { useId, useRef, useState, type FormEvent } from "react";
import { ErrorNotice } from "../../components/ErrorNotice";
import { signIn } from "../../lib/auth";
import { href } from "../../lib/router";
import { useSession } from "../../lib/session";
import { useDocumentTitle } from "../../lib/title";

/** Sign in (#/signin), or make an account (#/signup, when the server lets anyone sign up). */
export function SignInPage({ mode }: { mode: "signin" | "signup" }) {
  const { config } = useSession();
  const signup = mode === "signup";
  const title = signup ? "Create an account" : "Sign in";
  useDocumentTitle(title);
  const id = useId();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const errorRef = useRef<HTMLDivElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      // On success the session becomes "signed_in" and the app shows the page asked for.
      await signIn(signup ? "signup" : "login", email.trim(), password);
    } catch (err) {
      setError(err);
      setBusy(false);
      window.setTimeout(() => errorRef.current?.focus());
    }
  };

  return (
    <section className="page auth-page" aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>{title}</h1>
      <form className="card auth-form" onSubmit={(e) => void submit(e)} aria-describedby={error !== null ? `${id}-error` : undefined} noValidate={false}>
        <div className="field">
          <label htmlFor={`${id}-email`}>Email</label>
          <input id={`${id}-email`} name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-password`}>Password</label>
          <input
            id={`${id}-password`}
            name="password"
            type="password"
            autoComplete={signup ? "new-password" : "current-password"}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-describedby={signup ? `${id}-password-hint` : undefined}
          />
          {signup && (
            <p id={`${id}-password-hint`} className="muted small">
              A long passphrase is best; the server says if it is too weak.
            </p>
          )}
        </div>
        {error !== null && (
          <div id={`${id}-error`} ref={errorRef} tabIndex={-1}>
            <ErrorNotice error={error} />
          </div>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? (signup ? "Creating…" : "Signing in…") : signup ? "Create account" : "Sign in"}
        </button>
      </form>
      {signup ? (
        <p>
          Have an account? <a href={href({ name: "signin" })}>Sign in</a>
        </p>
      ) : (
        config?.signup && (
          <p>
            New here? <a href={href({ name: "signup" })}>Create an account</a>
          </p>
        )
      )}
    </section>
  );
}
