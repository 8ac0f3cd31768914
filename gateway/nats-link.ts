// Whether this gateway's NATS connection is up right now, so calls that need NATS fail fast with 503
// instead of waiting out a publish or request timeout while the client buffers and reconnects.
import type { NatsConnection } from "@nats-io/transport-node";
import { unavailable } from "../shared/errors.js";
import type { Logger } from "../shared/logger.js";

/**
 * On a NATS cluster, an invocation that arrives while the link is down waits this long for it to come back before
 * it is refused: the client fails over to another node within about a second (a node's restart, its loss), so the
 * caller gets a short wait instead of a 503. With one server there is nothing to fail over to: 503 at once.
 */
export const RECONNECT_GRACE_MS = 2000;

/** The grace for a gateway given its NATS URLs (comma-separated): only a cluster has another node to move to. */
export function reconnectGraceFor(natsUrl: string): number {
  return natsUrl.split(",").filter((u) => u.trim() !== "").length > 1 ? RECONNECT_GRACE_MS : 0;
}

export class NatsLink {
  private connected = true;
  private waiters = new Set<() => void>();

  constructor(
    readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly reconnectGraceMs = 0,
  ) {
    this.follow().catch((err: unknown) => this.log.error({ err }, "stopped following the NATS connection status"));
  }

  get up(): boolean {
    return this.connected && !this.nc.isClosed() && !this.nc.isDraining();
  }

  /** Throws UNAVAILABLE when NATS is down; `what` names the service the caller needed. */
  ensureUp(what = "NATS"): void {
    if (!this.up) throw unavailable(what === "NATS" ? "NATS" : `${what} (NATS is down)`);
  }

  /** Like ensureUp, but first waits up to `graceMs` (the cluster's reconnect grace) for a link that is down to come back. */
  async awaitUp(what = "NATS", graceMs = this.reconnectGraceMs): Promise<void> {
    if (!this.up && !this.nc.isClosed() && !this.nc.isDraining() && graceMs > 0) {
      let done!: () => void;
      const back = new Promise<void>((r) => (done = r));
      this.waiters.add(done);
      const timer = setTimeout(done, graceMs);
      await back;
      clearTimeout(timer);
      this.waiters.delete(done);
    }
    this.ensureUp(what);
  }

  private async follow(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect" || s.type === "close") this.set(false, s.type);
      else if (s.type === "reconnect") this.set(true, s.type);
    }
  }

  private set(connected: boolean, why: string): void {
    if (this.connected === connected) return;
    this.connected = connected;
    if (connected) for (const w of this.waiters) w();
    this.log.info({ nats: why, up: connected }, connected ? "NATS link up" : "NATS link down");
  }
}
