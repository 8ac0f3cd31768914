// A job's lease: JetStream hands a job to another agent once its ack wait passes without a sign of progress
// from the holder. A "still working" (+WPI) is fire-and-forget, so sending one proves nothing: the holder
// knows the server took it only when a later PING is answered (the server reads a connection in order).
// A lease is therefore renewed only by a confirmed progress ack, and it is lost for good when its expiry
// passed before a confirmation arrived: a partitioned, frozen or cut-off agent cannot know whether another
// agent runs the job now, so that attempt is fenced (no reply, record, ack or kill: invocation-runner.ts).
import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../shared/logger.js";

/** The server's clock for a delivery started before the job reached us; this much of the ack wait is kept back. */
const MARGIN_FRACTION = 0.1;
const MIN_RENEW_MS = 250;

export interface LeaseSettings {
  ackWaitMs: number;
}

/** One attempt's lease; times are performance.now() readings. */
export class JobLease {
  private expiresAt: number;
  private lost = false;

  constructor(
    readonly msg: JsMsg,
    private readonly settings: LeaseSettings,
    now = performance.now(),
  ) {
    this.expiresAt = now + settings.ackWaitMs;
  }

  /** A progress ack sent at `sentAt` is known to have reached the server by `confirmedAt`. */
  confirmed(sentAt: number, confirmedAt: number): void {
    if (this.lost) return;
    // It may have reached the server only after the server gave up on us: the chain of renewals is broken.
    if (confirmedAt >= this.deadline) {
      this.lost = true;
      return;
    }
    // The server took it no earlier than it was sent, so its ack wait runs from then at the latest.
    this.expiresAt = Math.max(this.expiresAt, sentAt + this.settings.ackWaitMs);
  }

  /** True while no other agent can have been given this job. */
  valid(now = performance.now()): boolean {
    if (!this.lost && now >= this.deadline) this.lost = true;
    return !this.lost;
  }

  /** How long ago the lease ran out (0 while it holds), for the log. */
  expiredForMs(now = performance.now()): number {
    return Math.max(0, Math.round(now - this.deadline));
  }

  private get deadline(): number {
    return this.expiresAt - this.settings.ackWaitMs * MARGIN_FRACTION;
  }
}

/**
 * Keeps the leases of every job this agent holds: a few times per ack wait it sends each a "still working",
 * then one PING for all of them, and renews them when the PONG comes back.
 */
export class JobLeases {
  private readonly held = new Set<JobLease>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: LeaseSettings,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Takes the lease of a job just delivered; release() it once the job is acked, naked or dropped. */
  hold(msg: JsMsg): JobLease {
    const lease = new JobLease(msg, this.settings);
    this.held.add(lease);
    return lease;
  }

  release(lease: JobLease): void {
    this.held.delete(lease);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renew();
      this.schedule();
    }, Math.max(MIN_RENEW_MS, this.settings.ackWaitMs / 4));
    this.timer.unref();
  }

  private renew(): void {
    if (this.held.size === 0 || this.nc.isClosed()) return;
    const leases = [...this.held];
    const sentAt = performance.now();
    try {
      for (const l of leases) l.msg.working();
    } catch (err) {
      // The connection closed under us: nothing was sent, nothing will be confirmed.
      this.log.debug({ err }, "a lease renewal could not be sent");
      return;
    }
    // Every renewal has its own PING: one lost with a connection is simply never confirmed.
    this.nc.flush().then(
      () => {
        const confirmedAt = performance.now();
        for (const l of leases) l.confirmed(sentAt, confirmedAt);
      },
      (err: unknown) => this.log.debug({ err }, "a lease renewal was not confirmed"),
    );
  }
}
