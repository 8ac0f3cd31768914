// Pulls jobs from the shared work queue only for free slots: a job waits in JetStream, where any agent can
// take it, until this agent can start it now. Credits = free slots not yet asked for; each fetch asks for
// that many, and a new fetch goes out once enough credit has come back (or none is outstanding).
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../shared/logger.js";

export interface JobConsumerOptions {
  slots: number;
  /** How long one pull request waits on the server for messages. */
  expiresMs?: number;
  /** After a failed fetch (NATS away, consumer missing), wait this long before the next. */
  retryMs?: number;
}

/**
 * Handles one job; calls `slotFree` once the job no longer runs (its container is released), which may be before
 * it resolves: storing its record and acking it need no slot, so the next job is pulled meanwhile.
 */
export type JobHandler = (msg: JsMsg, slotFree: () => void) => Promise<void>;

export class JobConsumer {
  /** Jobs running (holding a slot). */
  private busy = 0;
  /** Jobs whose handler has not finished (running, or storing their record before the ack). */
  private unfinished = 0;
  private requested = 0;
  private readonly fetches = new Set<ConsumerMessages>();
  private stopping = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private drained: (() => void) | undefined;
  private readonly threshold: number;

  constructor(
    private readonly consumer: Consumer,
    private readonly opts: JobConsumerOptions,
    private readonly handle: JobHandler,
    private readonly log: Logger,
  ) {
    // Small top-ups would mean a pull request per job; waiting for a quarter of the slots keeps them few
    // while one outstanding request always covers the common case.
    this.threshold = Math.max(1, Math.ceil(opts.slots / 4));
  }

  get inFlight(): number {
    return this.busy;
  }

  start(): void {
    this.pump();
  }

  /**
   * Takes a slot for work that did not come from the queue (a direct sync call): fewer slots are pulled for while
   * it runs. The slot may be taken past the limit; pulls then wait until the agent is under it again.
   */
  occupy(): () => void {
    this.busy++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.busy--;
      this.pump();
    };
  }

  /**
   * After a reconnect the pull requests sent to the old connection are gone, but their credit would stay
   * claimed until they expire (30 s): end them now, so fresh pulls go out at once.
   */
  renewPulls(): void {
    if (this.stopping) return;
    for (const f of this.fetches) f.stop();
  }

  /** Stops pulling and waits for the jobs in flight to finish (records stored, acked). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    for (const f of this.fetches) f.stop();
    if (this.unfinished > 0) await new Promise<void>((resolve) => (this.drained = resolve));
  }

  private pump(): void {
    if (this.stopping || this.retryTimer) return;
    const credit = this.opts.slots - this.busy - this.requested;
    if (credit <= 0 || (this.requested > 0 && credit < this.threshold)) return;
    void this.fetch(credit);
  }

  private async fetch(n: number): Promise<void> {
    this.requested += n;
    let outstanding = n;
    let messages: ConsumerMessages | undefined;
    try {
      messages = await this.consumer.fetch({ max_messages: n, expires: this.opts.expiresMs ?? 30_000 });
      this.fetches.add(messages);
      for await (const msg of messages) {
        outstanding--;
        this.requested--;
        this.dispatch(msg);
      }
    } catch (err) {
      if (!this.stopping) {
        this.log.warn({ err }, "fetching jobs failed; retrying");
        this.retryLater();
      }
    } finally {
      if (messages) this.fetches.delete(messages);
      this.requested -= outstanding;
      this.pump();
    }
  }

  private retryLater(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, this.opts.retryMs ?? 1000);
  }

  private dispatch(msg: JsMsg): void {
    if (this.stopping) {
      // Already delivered to us but not started: hand it straight back for another agent.
      msg.nak();
      return;
    }
    this.busy++;
    this.unfinished++;
    let running = true;
    const slotFree = () => {
      if (!running) return;
      running = false;
      this.busy--;
      this.pump();
    };
    this.handle(msg, slotFree)
      .catch((err: Error) => this.log.error({ err, seq: msg.seq }, "job handler failed"))
      .finally(() => {
        slotFree();
        if (--this.unfinished === 0) this.drained?.();
      });
  }
}
