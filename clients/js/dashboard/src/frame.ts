/**
 * Render at most once per animation frame. High-rate sources (100 updates/s
 * and more) write into refs and call `schedule()`; the component re-renders
 * once on the next frame with whatever arrived. `useFrameValue` does the
 * same for a value that changes often.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

export function useFrameTick(): [number, () => void] {
  const [tick, setTick] = useState(0);
  const pending = useRef<number | null>(null);
  const schedule = useCallback(() => {
    if (pending.current !== null) return;
    pending.current = requestAnimationFrame(() => {
      pending.current = null;
      setTick((t) => t + 1);
    });
  }, []);
  useEffect(
    () => () => {
      if (pending.current !== null) cancelAnimationFrame(pending.current);
    },
    [],
  );
  return [tick, schedule];
}

/** `value`, but updated at most once per animation frame. */
export function useFrameValue<T>(value: T): T {
  const [shown, setShown] = useState(value);
  const latest = useRef(value);
  latest.current = value;
  useEffect(() => {
    if (Object.is(shown, value)) return;
    const id = requestAnimationFrame(() => setShown(latest.current));
    return () => cancelAnimationFrame(id);
  }, [value, shown]);
  return shown;
}
