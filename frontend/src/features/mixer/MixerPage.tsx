export function MixerPage(_props: { projectId?: string }) { return <h1>MixerPage</h1>; }
