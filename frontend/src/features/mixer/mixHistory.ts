// Undo and redo over whole states: every mix move is one step, and a run of moves of one
// control (a fader drag, a held arrow key) is coalesced into the step that began it.

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
  /** The control the last step changed, while its run may still grow; null once sealed. */
  openKey: string | null;
  /** When the last step changed (ms), to end a run after a pause. */
  at: number;
}

/** At most this many steps back (older ones are forgotten). */
export const HISTORY_LIMIT = 200;
/** A move of the same control after this long a pause is a new step even without a seal. */
export const COALESCE_MS = 1000;

export function createHistory<T>(present: T): History<T> {
  return { past: [], present, future: [], openKey: null, at: 0 };
}

/**
 * The history after a move to `next`. With a `key` (such as "gain:vocals") equal to the open
 * run's, within COALESCE_MS of its last move, the move joins that step. A move that changes
 * nothing is no step.
 */
export function record<T>(h: History<T>, next: T, key: string | null = null, now = 0): History<T> {
  if (Object.is(next, h.present)) return h;
  if (key !== null && key === h.openKey && now - h.at <= COALESCE_MS) {
    return { ...h, present: next, future: [], at: now };
  }
  const past = [...h.past, h.present].slice(-HISTORY_LIMIT);
  return { past, present: next, future: [], openKey: key, at: now };
}

/** Ends the open run: the next move is a step of its own (a pointer or key was released). */
export function seal<T>(h: History<T>): History<T> {
  return h.openKey === null ? h : { ...h, openKey: null };
}

export function undo<T>(h: History<T>): History<T> {
  const previous = h.past[h.past.length - 1];
  if (previous === undefined) return h;
  return { past: h.past.slice(0, -1), present: previous, future: [h.present, ...h.future], openKey: null, at: 0 };
}

export function redo<T>(h: History<T>): History<T> {
  const [next, ...future] = h.future;
  if (next === undefined) return h;
  return { past: [...h.past, h.present], present: next, future, openKey: null, at: 0 };
}

/** A new starting point with no steps (another project, or a mix loaded at start-up). */
export function reset<T>(present: T): History<T> {
  return createHistory(present);
}
