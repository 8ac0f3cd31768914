// Announces the supervisor's status on weft.supervisor.status (every SUPERVISOR_STATUS_INTERVAL_MS and on every
// change) so that gateways show restarts and crash loops in /healthz. Core NATS, like the agents' heartbeats: a
// gateway that starts later hears the next announcement, and one that stops hearing forgets the supervisor.
import type { NatsConnection } from "@nats-io/transport-node";
import { withDeadline } from "../shared/lifecycle.js";
import type { Logger } from "../shared/logger.js";
import { connectNats } from "../shared/nats.js";
import { SUPERVISOR_STATUS_INTERVAL_MS, type SupervisorStatus } from "../shared/schemas/supervisor.js";
import { SUPERVISOR_STATUS_SUBJECT } from "../shared/subjects.js";

const CLOSE_WAIT_MS = 2000;

export class StatusAnnouncer {
  private nc: NatsConnection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly status: () => SupervisorStatus,
    private readonly log: Logger,
  ) {}

  /** Connects in the background (NATS may still be starting, or restarting) and announces from then on. */
  start(servers: string): void {
    connectNats(servers, `weft-up-${process.pid}`, this.log)
      .then((nc) => {
        if (this.closed) return void nc.close();
        this.nc = nc;
        this.announce();
        this.timer = setInterval(() => this.announce(), SUPERVISOR_STATUS_INTERVAL_MS);
      })
      .catch((err: unknown) => this.log.warn({ err }, "supervisor status will not be announced: NATS connection failed"));
  }

  announce(): void {
    if (!this.nc || this.nc.isClosed()) return;
    try {
      this.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(this.status()));
    } catch (err) {
      this.log.warn({ err }, "supervisor status not published");
    }
  }

  /** A last announcement (the stopped state), then the connection is closed; bounded, NATS may be gone. */
  async stop(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const nc = this.nc;
    if (!nc) return;
    this.announce();
    if (!(await withDeadline(nc.drain(), CLOSE_WAIT_MS))) await nc.close();
  }
}
