import { useRef } from "react";
import { useAnimationFrame } from "../../lib/useAnimationFrame";

const DECAY = 0.92; // per frame: quick attack, slow release, like a hardware meter

/** A visual peak meter (hidden from screen readers: it changes 60 times a second). */
export function LevelMeter({ read, active }: { read: () => number; active: boolean }) {
  const bar = useRef<HTMLDivElement>(null);
  const level = useRef(0);
  useAnimationFrame(() => {
    const v = Math.min(1, read());
    level.current = Math.max(v, level.current * DECAY);
    if (bar.current) {
      bar.current.style.transform = `scaleX(${level.current.toFixed(3)})`;
      bar.current.classList.toggle("meter-clip", v >= 0.999);
    }
  }, active);
  return (
    <div className="meter" aria-hidden="true">
      <div className="meter-bar" ref={bar} />
    </div>
  );
}
