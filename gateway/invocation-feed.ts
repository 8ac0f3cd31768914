// The live stream of invocations (GET /v1/invocations/live): one core NATS subscription to the records
// subjects, held only while someone follows, fanned out to Server-Sent Events responses. The records are
// published for the controller anyway, and a gateway nobody follows does not subscribe, so the stream costs the
// invocation path nothing; many followers share one subscription and one encoding of each event.
import type { ServerResponse } from "node:http";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { WeftError, unavailable } from "../shared/errors.js";
import { withDeadline } from "../shared/lifecycle.js";
import type { Logger } from "../shared/logger.js";
import { FEED_EVENTS, type InvocationChange } from "../shared/schemas/invocation-list.js";
import { RecordEvent, type InvocationStatus } from "../shared/schemas/invocation.js";
import { RECORDS_SUBJECT_PREFIX } from "../shared/subjects.js";

export interface FeedFilter {
  functionName?: string;
  status?: InvocationStatus;
}

/** Whether a record belongs to a live function (its live incarnation): a deleted function's never stream. */
export type IsLive = (functionName: string, incarnation: string | undefined) => boolean;

export interface FeedOptions {
  /** Followers one gateway serves at once; more are refused with RESOURCE_EXHAUSTED. */
  maxFollowers: number;
  /** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
  keepAliveMs: number;
}

const DEFAULT_OPTIONS: FeedOptions = { maxFollowers: 1000, keepAliveMs: 15_000 };
/** EventSource reconnects after this when the stream ends (a gateway restart, say). */
const RETRY_MS = 2000;
/** How long a new follower waits for the server to confirm the subscription before streaming anyway. */
const FLUSH_TIMEOUT_MS = 2000;

/** One SSE response. A client that reads too slowly misses events and is told so once it catches up. */
class Follower {
  private lagging = false;

  constructor(
    readonly res: ServerResponse,
    readonly filter: FeedFilter,
  ) {}

  wants(change: InvocationChange): boolean {
    const { functionName, status } = this.filter;
    return (functionName === undefined || change.functionName === functionName) && (status === undefined || change.status === status);
  }

  write(chunk: string): void {
    if (this.lagging || this.res.destroyed) return;
    if (this.res.write(chunk)) return;
    this.lagging = true;
    this.res.once("drain", () => {
      this.lagging = false;
      this.res.write(`event: ${FEED_EVENTS.lagged}\ndata: {}\n\n`);
    });
  }
}

export class InvocationFeed {
  private readonly followers = new Set<Follower>();
  private sub: Subscription | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Followers waiting for the subscription to be confirmed: the subscription stays for them. */
  private joining = 0;
  private readonly options: FeedOptions;

  constructor(
    private readonly nc: NatsConnection,
    private readonly isLive: IsLive,
    private readonly log: Logger,
    options: Partial<FeedOptions> = {},
  ) {
    this.options = { ...DEFAULT_OPTIONS, ...options };
  }

  get size(): number {
    return this.followers.size;
  }

  /** Streams matching changes to `res` until the client goes away or the gateway stops. */
  async follow(res: ServerResponse, filter: FeedFilter): Promise<void> {
    if (this.stopped) throw unavailable("the live stream (the gateway is stopping)");
    if (this.followers.size >= this.options.maxFollowers) {
      throw new WeftError("RESOURCE_EXHAUSTED", `this gateway already serves ${this.options.maxFollowers} live streams`);
    }
    // The stream answers once the server has the subscription, so what happens after the answer is in it.
    this.joining++;
    try {
      this.subscribe();
      // NATS away: stream anyway; the client sees changes once the connection (and the subscription) is back.
      await withDeadline(this.nc.flush().catch(() => undefined), FLUSH_TIMEOUT_MS);
    } finally {
      this.joining--;
    }
    if (this.stopped || res.destroyed) {
      this.idleIfUnused();
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write(`retry: ${RETRY_MS}\n: following\n\n`);
    const follower = new Follower(res, filter);
    const closed = new Promise<void>((resolve) => res.once("close", resolve));
    this.followers.add(follower);
    try {
      await closed;
    } finally {
      this.followers.delete(follower);
      this.idleIfUnused();
    }
  }

  /** Ends every stream (clients reconnect, to another gateway if there is one) and drops the subscription. */
  stop(): void {
    this.stopped = true;
    for (const f of this.followers) f.res.end();
    this.followers.clear();
    this.idle();
  }

  private subscribe(): void {
    if (this.sub) return;
    this.sub = this.nc.subscribe(`${RECORDS_SUBJECT_PREFIX}.*`, {
      callback: (err, msg) => {
        if (err) this.log.warn({ err }, "live stream subscription failed");
        else this.publish(msg.data);
      },
    });
    this.keepAlive = setInterval(() => this.broadcast(": keep-alive\n\n"), this.options.keepAliveMs);
    this.log.debug("live stream: subscribed to the records");
  }

  private idleIfUnused(): void {
    if (this.followers.size === 0 && this.joining === 0) this.idle();
  }

  private idle(): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  private broadcast(chunk: string): void {
    for (const f of this.followers) f.write(chunk);
  }

  private publish(data: Uint8Array): void {
    const parsed = changeOf(data);
    if (!parsed || !this.isLive(parsed.change.functionName, parsed.incarnation)) return;
    const { change } = parsed;
    let chunk: string | undefined;
    for (const f of this.followers) {
      if (!f.wants(change)) continue;
      chunk ??= `event: ${FEED_EVENTS.invocation}\ndata: ${JSON.stringify(change)}\n\n`;
      f.write(chunk);
    }
  }
}

/** A record phase as a change; anything that is not a valid record is skipped (the controller logs those). */
export function changeOf(data: Uint8Array): { change: InvocationChange; incarnation: string | undefined } | undefined {
  let parsed: ReturnType<typeof RecordEvent.safeParse>;
  try {
    parsed = RecordEvent.safeParse(JSON.parse(Buffer.from(data).toString("utf8")));
  } catch {
    return undefined;
  }
  if (!parsed.success) return undefined;
  const ev = parsed.data;
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const change: InvocationChange = {
    invocationId: ev.invocationId,
    functionName: ev.functionName,
    version: ev.version,
    status: ev.phase === "final" ? (ev.status ?? "killed") : ev.phase,
    async: ev.async,
    traceId: ev.traceId,
    error: ev.error,
    durationMs: ev.durationMs,
    coldStart: ev.coldStart,
    agent: ev.agent,
    attempt: ev.attempt,
    enqueuedAt: new Date(ev.enqueuedAt).toISOString(),
    startedAt: iso(ev.startedAt),
    finishedAt: iso(ev.finishedAt),
  };
  return { change: Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) as InvocationChange, incarnation: ev.incarnation };
}
