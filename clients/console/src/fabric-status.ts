// Whether the fabric answers: /healthz polled every few seconds (faster while it is down), and at once when an
// API call finds the gateway unreachable. Pages reload their data when it comes back (`recoveries`).
import { useEffect, useState } from "preact/hooks";

export type FabricState =
  | { kind: "unknown" }
  | { kind: "up" }
  | { kind: "degraded"; missing: string[] }
  | { kind: "unreachable" };

const UP_POLL_MS = 10_000;
const DOWN_POLL_MS = 2000;
const CHECK_TIMEOUT_MS = 4000;

class FabricStatus {
  state: FabricState = { kind: "unknown" };
  /** Counts the times the fabric came back; pages depend on it to refetch. */
  recoveries = 0;
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private checking = false;

  start(): void {
    void this.check();
  }

  unreachable(): void {
    this.set({ kind: "unreachable" });
    this.schedule(DOWN_POLL_MS);
  }

  /** An API call answered 503: ask /healthz what is missing. */
  degraded(): void {
    void this.check();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const res = await fetch("/healthz", { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
      const body = (await res.json().catch(() => ({}))) as { missing?: string[] };
      this.set(res.status === 200 ? { kind: "up" } : { kind: "degraded", missing: body.missing ?? [`/healthz answered ${res.status}`] });
    } catch {
      this.set({ kind: "unreachable" });
    } finally {
      this.checking = false;
      this.schedule(this.state.kind === "up" ? UP_POLL_MS : DOWN_POLL_MS);
    }
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.check(), ms);
  }

  private set(next: FabricState): void {
    const wasDown = this.state.kind === "unreachable" || this.state.kind === "degraded";
    if (wasDown && next.kind === "up") this.recoveries++;
    const changed = JSON.stringify(next) !== JSON.stringify(this.state);
    this.state = next;
    if (changed || (wasDown && next.kind === "up")) for (const l of this.listeners) l();
  }
}

export const fabric = new FabricStatus();

/** The fabric's state, re-rendering on change. */
export function useFabric(): { state: FabricState; recoveries: number } {
  const [, tick] = useState(0);
  useEffect(() => fabric.subscribe(() => tick((n) => n + 1)), []);
  return { state: fabric.state, recoveries: fabric.recoveries };
}
