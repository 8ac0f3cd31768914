// Growing waits between retries of something that is down (MongoDB, NATS), cut short when the owner stops.
import { setTimeout as sleep } from "node:timers/promises";

export class Backoff {
  private next: number;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {
    this.next = minMs;
  }

  /** Waits the current delay (doubling it for next time); resolves early, without error, when `signal` aborts. */
  async wait(signal?: AbortSignal): Promise<void> {
    const ms = this.next;
    this.next = Math.min(this.maxMs, this.next * 2);
    if (signal?.aborted) return;
    try {
      await sleep(ms, undefined, { signal });
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  }

  reset(): void {
    this.next = this.minMs;
  }
}
