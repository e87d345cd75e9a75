import { useEffect, useRef } from "react";

/** Calls `callback` on every animation frame while mounted (for meters and the playhead). */
export function useAnimationFrame(callback: () => void, active = true): void {
  const ref = useRef(callback);
  ref.current = callback;
  useEffect(() => {
    if (!active) return;
    let id = 0;
    const tick = () => {
      ref.current();
      id = requestAnimationFrame(tick);
    };
    id = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(id);
  }, [active]);
}
