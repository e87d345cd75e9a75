export function UploadPage(_props: { projectId?: string }) { return <h1>UploadPage</h1>; }
