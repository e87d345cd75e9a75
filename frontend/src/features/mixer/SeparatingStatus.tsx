import { useEffect, useState } from "react";
import { formatTime } from "../../audio/mixmath";
import type { StreamingEngine } from "../../audio/streaming";
import { LiveAnnouncement } from "../../components/LiveAnnouncement";
import type { Project } from "../../lib/types";

const WAITING = "Playback is waiting for the separation";

/**
 * How much of a separating song can play, and whether playback waits for more. Screen readers
 * hear when it starts waiting and when it goes on, not every step of the separation.
 */
export function SeparatingStatus({ engine, project }: { engine: StreamingEngine; project: Project }) {
  const [available, setAvailable] = useState(engine.available);
  const [waiting, setWaiting] = useState(engine.isWaiting);
  const [announcement, setAnnouncement] = useState("");

  useEffect(() => {
    const readyText = () => `${formatTime(engine.available)} of ${formatTime(engine.duration)} ready`;
    const offs = [
      engine.progress.on("available", ({ seconds }) => setAvailable(seconds)),
      engine.events.on("waiting", () => {
        setWaiting(true);
        setAnnouncement(`${WAITING}: ${readyText()}.`);
      }),
      engine.events.on("play", () => {
        setWaiting(false);
        setAnnouncement((said) => (said.startsWith(WAITING) ? "Playing again." : said));
      }),
      engine.events.on("pause", () => setWaiting(false)),
      engine.events.on("ended", () => setWaiting(false)),
    ];
    return () => offs.forEach((off) => off());
  }, [engine]);

  const ready = `${formatTime(available)} of ${formatTime(engine.duration)} ready`;
  let text = `Still separating: ${ready}. You can play what is ready.`;
  if (project.status === "ready") text = "Separation done: loading the whole song…";
  else if (waiting) text = `Waiting for the separation… ${ready}`;
  return (
    <>
      <p className={waiting ? "notice notice-info" : "muted small"} data-testid="separating-status" data-waiting={waiting}>
        {text}
      </p>
      <LiveAnnouncement text={announcement} />
    </>
  );
}
