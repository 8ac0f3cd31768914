// One wildcard subscription per gateway receives every synchronous result: agents publish the result object
// to `<prefix>.<invocationId>` (the job's Weft-Reply-To), and the waiting call is found by its invocation id.
// A second one receives JetStream's PubAcks of the jobs this gateway publishes (`<prefix>.ack.<invocationId>`),
// so a job is published without a request of its own and a sync call need not wait for its ack. A third receives
// the agents' answers to direct sync calls (`<prefix>.direct.<invocationId>`, gateway/direct-call.ts), headers and all.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";

export interface PendingResult {
  /** The raw InvocationResult JSON, or undefined when the wait ran out first. */
  readonly result: Promise<Uint8Array | undefined>;
  /** Stops waiting (the caller went away or the publish failed); the promise resolves undefined. */
  cancel(): void;
}

/** What became of one job publish: stored by JetStream, refused by it (or no stream answered), or no answer in time. */
export type PubAckOutcome =
  | { kind: "stored" }
  | { kind: "refused"; error: PubAckRefused }
  | { kind: "timeout" };

export interface PendingAck {
  readonly outcome: Promise<PubAckOutcome>;
  cancel(): void;
}

/** JetStream's refusal of a publish, from its PubAck ({error: {code, err_code, description}}) or a no-responders status. */
export class PubAckRefused extends Error {
  constructor(
    message: string,
    /** JetStream's err_code (10077: the stream is full); 0 when no stream answered. */
    readonly errCode: number,
    /**
     * No stream received the message (a 503 no-responders status): it was not stored. On a cluster this is the
     * gap while the stream elects a new leader after its leader's node went, so a publish may be tried again.
     */
    readonly noResponders = false,
  ) {
    super(message);
    this.name = "PubAckRefused";
  }
}

interface Waiting<T> {
  resolve: (value: T) => void;
  timer: NodeJS.Timeout;
}

export class ReplyInbox {
  readonly prefix: string;
  private readonly waiting = new Map<string, Waiting<Uint8Array | undefined>>();
  private readonly acks = new Map<string, Waiting<PubAckOutcome>>();
  private readonly direct = new Map<string, Waiting<Msg | undefined>>();
  private readonly sub: Subscription;
  private readonly ackSub: Subscription;
  private readonly directSub: Subscription;

  constructor(nc: NatsConnection, gatewayId: string) {
    this.prefix = `_INBOX.weft.${gatewayId}`;
    const start = this.prefix.length + 1;
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (!err) this.settle(msg.subject.slice(start), msg.data);
      },
    });
    const ackStart = `${this.prefix}.ack.`.length;
    this.ackSub = nc.subscribe(`${this.prefix}.ack.*`, {
      callback: (err, msg) => {
        if (err) return;
        // Most sync calls had their result before the PubAck came (the wait was cancelled): nothing to read then.
        const id = msg.subject.slice(ackStart);
        if (this.acks.has(id)) this.settleAck(id, pubAckOf(msg));
      },
    });
    const directStart = `${this.prefix}.direct.`.length;
    this.directSub = nc.subscribe(`${this.prefix}.direct.*`, {
      callback: (err, msg) => {
        if (!err) settleIn(this.direct, msg.subject.slice(directStart), msg);
      },
    });
  }

  /** Where an agent answers a direct sync call (or the server says no agent listens). */
  directSubjectFor(invocationId: string): string {
    return `${this.prefix}.direct.${invocationId}`;
  }

  /** Registers interest in the answer to a direct call before it is sent; undefined after `timeoutMs` without one. */
  expectDirect(invocationId: string, timeoutMs: number): { answer: Promise<Msg | undefined>; cancel(): void } {
    const answer = new Promise<Msg | undefined>((resolve) => {
      const timer = setTimeout(() => settleIn(this.direct, invocationId, undefined), timeoutMs);
      this.direct.set(invocationId, { resolve, timer });
    });
    return { answer, cancel: () => settleIn(this.direct, invocationId, undefined) };
  }

  subjectFor(invocationId: string): string {
    return `${this.prefix}.${invocationId}`;
  }

  /** Where JetStream sends the PubAck of a job published with this reply subject. */
  ackSubjectFor(invocationId: string): string {
    return `${this.prefix}.ack.${invocationId}`;
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

  /** Registers interest in a job's PubAck before it is published; after `timeoutMs` without one: timeout. */
  expectAck(invocationId: string, timeoutMs: number): PendingAck {
    const outcome = new Promise<PubAckOutcome>((resolve) => {
      const timer = setTimeout(() => this.settleAck(invocationId, TIMED_OUT), timeoutMs);
      this.acks.set(invocationId, { resolve, timer });
    });
    return { outcome, cancel: () => this.settleAck(invocationId, TIMED_OUT) };
  }

  /** Releases every waiting call (on shutdown); their callers answer "running". */
  stop(): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, undefined);
    for (const id of [...this.acks.keys()]) this.settleAck(id, TIMED_OUT);
    for (const id of [...this.direct.keys()]) settleIn(this.direct, id, undefined);
    this.sub.unsubscribe();
    this.ackSub.unsubscribe();
    this.directSub.unsubscribe();
  }

  /** A late or duplicate answer (a redelivered job) finds nobody waiting: the caller has its result already. */
  private settle(invocationId: string, data: Uint8Array | undefined): void {
    settleIn(this.waiting, invocationId, data);
  }

  /** The ack of a publish retried (de-duplicated), or one nobody waits for any more, finds nobody waiting. */
  private settleAck(invocationId: string, outcome: PubAckOutcome): void {
    settleIn(this.acks, invocationId, outcome);
  }
}

/** Hands `value` to whoever waits for `id` in `waiting`, if anyone still does, and stops their timer. */
function settleIn<T>(waiting: Map<string, Waiting<T>>, id: string, value: T): void {
  const w = waiting.get(id);
  if (!w) return;
  waiting.delete(id);
  clearTimeout(w.timer);
  w.resolve(value);
}

const TIMED_OUT: PubAckOutcome = { kind: "timeout" };
const STORED: PubAckOutcome = { kind: "stored" };

/** A PubAck is {"stream":…,"seq":…} or {"error":{…}}; a status message (503) means no stream listens on the subject. */
function pubAckOf(msg: Msg): PubAckOutcome {
  if (msg.headers?.hasError || (msg.data.length === 0 && msg.headers)) {
    const code = msg.headers?.code ?? 0;
    return { kind: "refused", error: new PubAckRefused(`no stream stored the job (status ${code} ${msg.headers?.description ?? ""})`.trim(), 0, code === 503) };
  }
  // Only a refusal needs parsing: a stored ack starts {"stream" and never holds "error".
  if (!includesError(msg.data)) return STORED;
  try {
    const body = JSON.parse(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength).toString("utf8")) as {
      error?: { err_code?: number; description?: string };
    };
    if (!body.error) return STORED;
    return { kind: "refused", error: new PubAckRefused(body.error.description ?? "refused", body.error.err_code ?? 0) };
  } catch {
    return { kind: "refused", error: new PubAckRefused("an unreadable PubAck", 0) };
  }
}

const ERROR_KEY = Buffer.from('"error"');

function includesError(data: Uint8Array): boolean {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).includes(ERROR_KEY);
}
