// Announces this agent's AgentStatus on weft.agents.heartbeat every few seconds and answers pings,
// so gateways know an agent is ready (GET /healthz).
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/logger.js";
import type { AgentStatus } from "../shared/schemas/agent.js";
import { AGENT_HEARTBEAT_SUBJECT, AGENT_PING_SUBJECT } from "../shared/subjects.js";

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly status: () => AgentStatus,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(AGENT_PING_SUBJECT, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err }, "ping subscription failed");
          return;
        }
        msg.respond(JSON.stringify(this.status()));
      },
    });
    this.announce();
    this.timer = setInterval(() => this.announce(), this.intervalMs);
  }

  /** Says goodbye with a last status (draining or stopped) so gateways need not wait for it to age out. */
  stop(last: AgentStatus): void {
    clearInterval(this.timer);
    this.sub?.unsubscribe();
    this.publish(last);
  }

  announce(): void {
    this.publish(this.status());
  }

  private publish(status: AgentStatus): void {
    try {
      this.nc.publish(AGENT_HEARTBEAT_SUBJECT, JSON.stringify(status));
    } catch (err) {
      // Publishing on a closed connection throws; the next beat will try again.
      this.log.warn({ err }, "heartbeat not published");
    }
  }
}
