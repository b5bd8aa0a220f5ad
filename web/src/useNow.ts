import { useEffect, useState } from 'react';

/** Re-renders every `ms` so relative ages ("12 min ago") stay current between fetches. */
export function useNow(ms = 15_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}
