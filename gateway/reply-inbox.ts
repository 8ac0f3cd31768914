// One wildcard subscription per gateway receives every synchronous result: agents publish the result object
// to `<prefix>.<invocationId>` (the job's Weft-Reply-To), and the waiting call is found by its invocation id.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";

export interface PendingResult {
  /** The raw InvocationResult JSON, or undefined when the wait ran out first. */
  readonly result: Promise<Uint8Array | undefined>;
  /** Stops waiting (the caller went away or the publish failed); the promise resolves undefined. */
  cancel(): void;
}

interface Waiting {
  resolve: (data: Uint8Array | undefined) => void;
  timer: NodeJS.Timeout;
}

export class ReplyInbox {
  readonly prefix: string;
  private readonly waiting = new Map<string, Waiting>();
  private readonly sub: Subscription;

  constructor(nc: NatsConnection, gatewayId: string) {
    this.prefix = `_INBOX.weft.${gatewayId}`;
    const start = this.prefix.length + 1;
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (!err) this.settle(msg.subject.slice(start), msg.data);
      },
    });
  }

  subjectFor(invocationId: string): string {
    return `${this.prefix}.${invocationId}`;
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Registers interest before the job is published, so a fast agent's answer cannot be missed. */
  expect(invocationId: string, timeoutMs: number): PendingResult {
    const result = new Promise<Uint8Array | undefined>((resolve) => {
      const timer = setTimeout(() => this.settle(invocationId, undefined), timeoutMs);
      this.waiting.set(invocationId, { resolve, timer });
    });
    return { result, cancel: () => this.settle(invocationId, undefined) };
  }

  /** Releases every waiting call (on shutdown); their callers answer "running". */
  stop(): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, undefined);
    this.sub.unsubscribe();
  }

  private settle(invocationId: string, data: Uint8Array | undefined): void {
    const w = this.waiting.get(invocationId);
    if (!w) return; // a late or duplicate answer (a redelivered job): the caller has its result already
    this.waiting.delete(invocationId);
    clearTimeout(w.timer);
    w.resolve(data);
  }
}
