import { useEffect, useEffectEvent } from "react";

/** Calls `callback` (its latest version) on every animation frame while mounted (for meters and the playhead). */
export function useAnimationFrame(callback: () => void, active = true): void {
  const onFrame = useEffectEvent(callback);
  useEffect(() => {
    if (!active) return;
    let id = 0;
    const tick = () => {
      onFrame();
      id = requestAnimationFrame(tick);
    };
    id = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(id);
  }, [active]);
}
