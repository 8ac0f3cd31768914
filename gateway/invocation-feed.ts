// The live streams: GET /v1/invocations/live (every change of an invocation) and GET /v1/functions/{name}/logs?follow=true
// (each ended invocation's log lines). One core NATS subscription to the records subjects, held only while someone
// follows, fanned out to Server-Sent Events responses. The records are published for the controller anyway, and a
// gateway nobody follows does not subscribe, so the streams cost the invocation path nothing; many followers share
// one subscription, one parse and one encoding of each event.
import type { ServerResponse } from "node:http";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { WeftError, unavailable } from "../shared/errors.js";
import { withDeadline } from "../shared/lifecycle.js";
import type { Logger } from "../shared/logger.js";
import { LOG_EVENTS, linesOf, type LogLine, type LogPage } from "../shared/schemas/function-logs.js";
import { FEED_EVENTS, type InvocationChange } from "../shared/schemas/invocation-list.js";
import { RecordEvent, type InvocationStatus } from "../shared/schemas/invocation.js";
import { RECORDS_SUBJECT_PREFIX } from "../shared/subjects.js";
import { recordsIn } from "../shared/records.js";

export interface FeedFilter {
  functionName?: string;
  status?: InvocationStatus;
}

/** What a follower receives: every change of an invocation, or the log lines of each one that ends. */
export type FeedKind = "changes" | "logs";

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

/** Where a follower's messages go: an SSE response (text chunks) or a gRPC server stream (messages). */
export interface FeedOutput {
  readonly destroyed: boolean;
  write(message: unknown): boolean;
  once(event: "drain", listener: () => void): unknown;
  end(): void;
}

/** How a follower's output takes the feed: the message for a record (none: skip it), and the extra messages, if any. */
interface Format {
  encode(chunks: Chunks, kind: FeedKind): unknown;
  lagged?: unknown;
  keepAlive?: unknown;
}

const SSE: Format = {
  encode: (chunks, kind) => chunks.of(kind),
  lagged: `event: ${FEED_EVENTS.lagged}\ndata: {}\n\n`,
  keepAlive: ": keep-alive\n\n",
};

/** A gRPC stream of log pages (FollowLogs): flow control is the stream's; it has no lagged or keep-alive message. */
const LOG_PAGES: Format = { encode: (chunks) => chunks.page() };

/** One follower. A client that reads too slowly misses messages and is told so (where its format can) once it catches up. */
class Follower {
  private lagging = false;

  constructor(
    readonly out: FeedOutput,
    readonly filter: FeedFilter,
    readonly kind: FeedKind,
    readonly format: Format,
  ) {}

  wants(ev: RecordEvent): boolean {
    const { functionName, status } = this.filter;
    if (this.kind === "logs" && ev.phase !== "final") return false;
    return (functionName === undefined || ev.functionName === functionName) && (status === undefined || statusOf(ev) === status);
  }

  write(message: unknown): void {
    if (this.lagging || this.out.destroyed) return;
    if (this.out.write(message)) return;
    this.lagging = true;
    this.out.once("drain", () => {
      this.lagging = false;
      if (this.format.lagged !== undefined) this.out.write(this.format.lagged);
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

  /** Whether a function is live here (known to this gateway's function cache). */
  knows(functionName: string): boolean {
    return this.isLive(functionName, undefined);
  }

  /** Streams matching changes (or log lines) to `res` as Server-Sent Events until the client goes away or the gateway stops. */
  async follow(res: ServerResponse, filter: FeedFilter, kind: FeedKind = "changes"): Promise<void> {
    await this.join();
    if (this.stopped || res.destroyed) return this.idleIfUnused();
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write(`retry: ${RETRY_MS}\n: following\n\n`);
    await this.attach(new Follower(res, filter, kind, SSE), new Promise<void>((resolve) => res.once("close", resolve)));
  }

  /** Streams each matching invocation's log lines to a gRPC server stream (one LogPage each) until it is cancelled. */
  async followLogs(call: FeedOutput & { once(event: "cancelled" | "close" | "error", listener: () => void): unknown }, filter: FeedFilter): Promise<void> {
    const gone = new Promise<void>((resolve) => {
      for (const event of ["cancelled", "close", "error"] as const) call.once(event, resolve);
    });
    await this.join();
    if (this.stopped || call.destroyed) return this.idleIfUnused();
    await this.attach(new Follower(call, filter, "logs", LOG_PAGES), gone);
  }

  /** Subscribes (once for everyone) and waits for the server to confirm, so what happens after the answer is in the stream. */
  private async join(): Promise<void> {
    if (this.stopped) throw unavailable("the live stream (the gateway is stopping)");
    if (this.followers.size >= this.options.maxFollowers) {
      throw new WeftError("RESOURCE_EXHAUSTED", `this gateway already serves ${this.options.maxFollowers} live streams`);
    }
    this.joining++;
    try {
      this.subscribe();
      // NATS away: stream anyway; the client sees changes once the connection (and the subscription) is back.
      await withDeadline(this.nc.flush().catch(() => undefined), FLUSH_TIMEOUT_MS);
    } finally {
      this.joining--;
    }
  }

  private async attach(follower: Follower, gone: Promise<void>): Promise<void> {
    this.followers.add(follower);
    try {
      await gone;
    } finally {
      this.followers.delete(follower);
      this.idleIfUnused();
    }
  }

  /** Ends every stream (clients reconnect, to another gateway if there is one) and drops the subscription. */
  stop(): void {
    this.stopped = true;
    for (const f of this.followers) f.out.end();
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
    this.keepAlive = setInterval(() => this.keepAllAlive(), this.options.keepAliveMs);
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

  private keepAllAlive(): void {
    for (const f of this.followers) if (f.format.keepAlive !== undefined) f.write(f.format.keepAlive);
  }

  /** Sends the records of one message (an agent's batch holds several) to the followers that want them. */
  private publish(data: Uint8Array): void {
    for (const item of recordsIn(data)) this.publishOne(recordEventOf(item));
  }

  private publishOne(ev: RecordEvent | undefined): void {
    if (!ev || !this.isLive(ev.functionName, ev.incarnation)) return;
    const chunks = new Chunks(ev);
    for (const f of this.followers) {
      if (!f.wants(ev)) continue;
      const message = f.format.encode(chunks, f.kind);
      if (message !== undefined) f.write(message);
    }
  }
}

/** The SSE chunks of one record event, each encoded at most once however many followers take it. */
class Chunks {
  private readonly done = new Map<FeedKind, string | undefined>();
  private lines: LogLine[] | undefined;

  constructor(private readonly ev: RecordEvent) {}

  of(kind: FeedKind): string | undefined {
    if (!this.done.has(kind)) this.done.set(kind, kind === "logs" ? logsChunk(this.page()) : changeChunk(this.ev));
    return this.done.get(kind);
  }

  /** The ended invocation's lines as a LogPage; none when it logged nothing. */
  page(): LogPage | undefined {
    this.lines ??= linesOfEvent(this.ev);
    return this.lines.length ? { lines: this.lines } : undefined;
  }
}

const changeChunk = (ev: RecordEvent) => `event: ${FEED_EVENTS.invocation}\ndata: ${JSON.stringify(changeOfEvent(ev))}\n\n`;

/** An ended invocation's lines as one `logs` event. */
const logsChunk = (page: LogPage | undefined) => (page ? `event: ${LOG_EVENTS.logs}\ndata: ${JSON.stringify(page)}\n\n` : undefined);

function linesOfEvent(ev: RecordEvent): LogLine[] {
  return linesOf({
    invocationId: ev.invocationId,
    version: ev.version,
    status: ev.status ?? "killed",
    logs: ev.logs,
    finishedAt: new Date(ev.finishedAt ?? Date.now()).toISOString(),
  });
}

/** The status a phase stands for: queued, running, or how it ended. */
function statusOf(ev: RecordEvent): InvocationStatus {
  return ev.phase === "final" ? (ev.status ?? "killed") : ev.phase;
}

/** One record phase of a message, parsed; anything that is not a valid record is skipped (the controller logs those). */
function recordEventOf(item: unknown): RecordEvent | undefined {
  const parsed = RecordEvent.safeParse(item);
  return parsed.success ? parsed.data : undefined;
}

/** A message's (first) record phase as a change; anything that is not a valid record is skipped. */
export function changeOf(data: Uint8Array): { change: InvocationChange; incarnation: string | undefined } | undefined {
  const [item] = recordsIn(data);
  const ev = item === undefined ? undefined : recordEventOf(item);
  return ev ? { change: changeOfEvent(ev), incarnation: ev.incarnation } : undefined;
}

function changeOfEvent(ev: RecordEvent): InvocationChange {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const change: InvocationChange = {
    invocationId: ev.invocationId,
    functionName: ev.functionName,
    version: ev.version,
    status: statusOf(ev),
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
  return Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) as InvocationChange;
}
