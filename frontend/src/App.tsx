import { useCallback, useEffect, useRef, useState } from "react";
import { ErrorNotice } from "./components/ErrorNotice";
import { AccountPage } from "./features/account/AccountPage";
import { AdminPage } from "./features/account/AdminPage";
import { SignInPage } from "./features/account/SignInPage";
import { LibraryPage } from "./features/library/LibraryPage";
import { MixerPage } from "./features/mixer/MixerPage";
import { UploadPage } from "./features/upload/UploadPage";
import { signOut } from "./lib/auth";
import { href, navigate, useRoute } from "./lib/router";
import { SessionProvider, useSession } from "./lib/session";
import { useDocumentTitle } from "./lib/title";

export function App() {
  const [bootError, setBootError] = useState<unknown>(null);
  const onBootError = useCallback((e: unknown) => setBootError(e), []);
  return (
    <SessionProvider onBootError={onBootError}>
      <Shell bootError={bootError} />
    </SessionProvider>
  );
}

function Shell({ bootError }: { bootError: unknown }) {
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const { config, status, me } = useSession();
  const accounts = config?.auth_mode === "accounts";
  const signedOut = status === "signed_out";

  // Move focus to the new page's content so keyboard and screen-reader users land on it.
  // (Each page sets the tab's title: useDocumentTitle.)
  useEffect(() => {
    main.current?.focus({ preventScroll: true });
  }, [route, signedOut]);

  // Signed in (or no accounts): the sign-in pages have nothing to do.
  useEffect(() => {
    if ((status === "signed_in" || status === "single") && (route.name === "signin" || route.name === "signup")) navigate({ name: "upload" });
  }, [status, route.name]);

  const onSignOut = () => {
    void signOut().then(() => navigate({ name: "signin" }));
  };

  let page: React.ReactNode;
  if (bootError !== null) page = <ErrorNotice error={bootError} />;
  else if (status === "loading") page = <p aria-busy="true">Loading…</p>;
  else if (signedOut) page = route.name === "signup" && config?.signup ? <SignInPage mode="signup" /> : <SignInPage mode="signin" />;
  else if (route.name === "upload") page = <UploadPage />;
  else if (route.name === "library") page = <LibraryPage />;
  else if (route.name === "mixer") page = <MixerPage key={route.projectId} projectId={route.projectId} />;
  else if (route.name === "account") page = <AccountPage checkout={route.checkout} />;
  else if (route.name === "admin") page = <AdminPage />;
  else if (route.name === "signin" || route.name === "signup") page = <p aria-busy="true">Loading…</p>;
  else page = <NotFoundPage />;

  return (
    <>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header className="app-header">
        <a className="brand" href={href({ name: "upload" })}>IsoMix Studio</a>
        {signedOut ? (
          <nav aria-label="Main">
            <a href={href({ name: "signin" })} aria-current={route.name !== "signup" ? "page" : undefined}>Sign in</a>
            {config?.signup && (
              <a href={href({ name: "signup" })} aria-current={route.name === "signup" ? "page" : undefined}>Sign up</a>
            )}
          </nav>
        ) : (
          <>
            <nav aria-label="Main">
              <a href={href({ name: "upload" })} aria-current={route.name === "upload" ? "page" : undefined}>Upload</a>
              <a href={href({ name: "library" })} aria-current={route.name === "library" ? "page" : undefined}>Library</a>
              {accounts && status === "signed_in" && (
                <a href={href({ name: "account" })} aria-current={route.name === "account" ? "page" : undefined}>Account</a>
              )}
              {accounts && status === "signed_in" && me?.user.is_admin && (
                <a href={href({ name: "admin" })} aria-current={route.name === "admin" ? "page" : undefined}>Admin</a>
              )}
            </nav>
            {accounts && status === "signed_in" && (
              <div className="account-menu">
                <span className="muted small" data-testid="signed-in-as">{me?.user.email ?? ""}</span>
                <button type="button" className="link-button" onClick={onSignOut}>
                  Sign out
                </button>
              </div>
            )}
          </>
        )}
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

function NotFoundPage() {
  useDocumentTitle("Page not found");
  return (
    <section>
      <h1>Page not found</h1>
      <p><a href={href({ name: "upload" })}>Go to the upload page</a></p>
    </section>
  );
}
