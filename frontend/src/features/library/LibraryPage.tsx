export function LibraryPage(_props: { projectId?: string }) { return <h1>LibraryPage</h1>; }
