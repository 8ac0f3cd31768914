// Whether this gateway's NATS connection is up right now, so calls that need NATS fail fast with 503
// instead of waiting out a publish or request timeout while the client buffers and reconnects.
import type { NatsConnection } from "@nats-io/transport-node";
import { unavailable } from "../shared/errors.js";
import type { Logger } from "../shared/logger.js";

export class NatsLink {
  private connected = true;

  constructor(
    readonly nc: NatsConnection,
    private readonly log: Logger,
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

  private async follow(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect" || s.type === "close") this.set(false, s.type);
      else if (s.type === "reconnect") this.set(true, s.type);
    }
  }

  private set(connected: boolean, why: string): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.log.info({ nats: why, up: connected }, connected ? "NATS link up" : "NATS link down");
  }
}
