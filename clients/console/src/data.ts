// Loading what a page shows: fetched on mount and when its inputs change, refreshed every `everyMs` while the
// tab is visible, and again when the fabric comes back. The last good data stays on screen while reloading.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.js";
import { useFabric } from "./fabric-status.js";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
  /** Replaces the data in place (a live update), as if it had been loaded. */
  set: (update: (previous: T | undefined) => T | undefined) => void;
}

export function useData<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], opts: { everyMs?: number } = {}): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  const { recoveries } = useFabric();
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const abort = new AbortController();
    setLoading(true);
    loadRef.current(abort.signal).then(
      (d) => {
        if (abort.signal.aborted) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        setError(err instanceof ApiError ? err : new ApiError("CLIENT_ERROR", String(err), 0));
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [...deps, nonce, recoveries]);

  // A dependency change shows the new subject's data only: clear what belonged to the old one.
  useEffect(() => () => setData(undefined), deps);

  useEffect(() => {
    if (!opts.everyMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") setNonce((n) => n + 1);
    }, opts.everyMs);
    return () => clearInterval(timer);
  }, [opts.everyMs, ...deps]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const set = useCallback((update: (previous: T | undefined) => T | undefined) => setData(update), []);
  return { data, error, loading, reload, set };
}
