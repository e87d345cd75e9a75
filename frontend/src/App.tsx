import { useEffect, useRef } from "react";
import { LibraryPage } from "./features/library/LibraryPage";
import { MixerPage } from "./features/mixer/MixerPage";
import { UploadPage } from "./features/upload/UploadPage";
import { href, useRoute } from "./lib/router";
import { useDocumentTitle } from "./lib/title";

export function App() {
  const route = useRoute();
  const main = useRef<HTMLElement>(null);

  // Move focus to the new page's content so keyboard and screen-reader users land on it.
  // (Each page sets the tab's title: useDocumentTitle.)
  useEffect(() => {
    main.current?.focus({ preventScroll: true });
  }, [route]);

  return (
    <>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header className="app-header">
        <a className="brand" href={href({ name: "upload" })}>IsoMix Studio</a>
        <nav aria-label="Main">
          <a href={href({ name: "upload" })} aria-current={route.name === "upload" ? "page" : undefined}>Upload</a>
          <a href={href({ name: "library" })} aria-current={route.name === "library" ? "page" : undefined}>Library</a>
        </nav>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {route.name === "upload" && <UploadPage />}
        {route.name === "library" && <LibraryPage />}
        {route.name === "mixer" && <MixerPage key={route.projectId} projectId={route.projectId} />}
        {route.name === "not_found" && <NotFoundPage />}
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
