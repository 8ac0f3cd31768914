// Invocations as they happen, from the API's live stream (Server-Sent Events). EventSource reconnects by
// itself; a `lagged` event (the browser read too slowly and missed some) asks the page to reload its list.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, type InvocationChange } from "./api.js";

export type LiveState = "connecting" | "live" | "off";

const BATCH_MS = 100;

export function useInvocationStream(
  filter: { function?: string; status?: string },
  on: { change: (c: InvocationChange) => void; lagged?: () => void },
  enabled = true,
): LiveState {
  const [state, setState] = useState<LiveState>(enabled ? "connecting" : "off");
  const handlers = useRef(on);
  handlers.current = on;

  useEffect(() => {
    if (!enabled) {
      setState("off");
      return;
    }
    const source = new EventSource(api.followUrl(filter));
    setState("connecting");
    source.onopen = () => setState("live");
    source.onerror = () => setState("connecting");
    // A busy fabric sends hundreds of changes a second: they are applied in batches, one render per batch.
    let batch: InvocationChange[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const changes = batch;
      batch = [];
      for (const c of changes) handlers.current.change(c);
    };
    source.addEventListener("invocation", (e) => {
      const change = parseChange((e as MessageEvent<string>).data);
      if (!change) return;
      batch.push(change);
      timer ??= setTimeout(flush, BATCH_MS);
    });
    source.addEventListener("lagged", () => handlers.current.lagged?.());
    return () => {
      clearTimeout(timer);
      source.close();
    };
  }, [filter.function, filter.status, enabled]);

  return state;
}

function parseChange(data: string): InvocationChange | undefined {
  try {
    const c = JSON.parse(data) as InvocationChange;
    return typeof c.invocationId === "string" ? c : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The changes received since the list was last asked for, kept to lay over whatever the list's fetch answers:
 * a fetch that answers after a change arrived (it read the records a moment earlier) must not hide it.
 * Cleared when `key` changes (other filters, another page).
 */
export function useLiveChanges(key: string, max: number): { changes: InvocationChange[]; add: (c: InvocationChange) => void } {
  const [changes, setChanges] = useState<InvocationChange[]>([]);
  useEffect(() => setChanges([]), [key]);
  const add = useCallback((c: InvocationChange) => setChanges((list) => [...list.slice(1 - max), c]), [max]);
  return { changes, add };
}

/** A newest-first list with the changes laid over it, oldest change first. */
export function overlay<T extends { invocationId: string; status: string }>(list: T[], changes: InvocationChange[], max: number): T[] {
  return changes.reduce((rows, c) => applyChange(rows, c, max), list);
}

/** Applies a change to a newest-first list: updates the invocation in place, or puts it on top. */
export function applyChange<T extends { invocationId: string; status: string }>(list: T[], change: InvocationChange, max: number): T[] {
  const i = list.findIndex((r) => r.invocationId === change.invocationId);
  if (i >= 0) {
    const current = list[i]!;
    // Records arrive in any order: a finished one never goes back to queued or running.
    if (isFinal(current.status) && !isFinal(change.status)) return list;
    const next = list.slice();
    next[i] = { ...current, ...change };
    return next;
  }
  return [change as unknown as T, ...list].slice(0, max);
}

export const isFinal = (status: string): boolean => status === "ok" || status === "error" || status === "timeout" || status === "killed";
