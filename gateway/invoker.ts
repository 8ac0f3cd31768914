// The hot path: check an invocation against the in-memory function cache, publish it as a job on the
// JetStream work queue, and (for a synchronous call) wait for the agent's result on this gateway's inbox.
// No MongoDB, no controller, no network call before the publish unless a version is pinned.
import { queuedRecord, recordMsgId } from "../shared/records.js";
import { randomUUID } from "node:crypto";
import { ROOT_CONTEXT, SpanKind, propagation, type Span } from "@opentelemetry/api";
import { JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { WeftError, invalid, notFound, unavailable, withoutStack } from "../shared/errors.js";
import { HEADERS } from "../shared/headers.js";
import type { Logger } from "../shared/logger.js";
import { invocationLogger } from "../shared/logger.js";
import type { InvocationAccepted, RecordEvent } from "../shared/schemas/invocation.js";
import { agentDirectSubject, directSubject, jobSubject, recordSubject } from "../shared/subjects.js";
import { injectTraceContext, tracer } from "../shared/telemetry.js";
import { checkEvent } from "./event.js";
import type { CachedFunction, FunctionCache } from "./function-cache.js";
import type { NatsLink } from "./nats-link.js";
import { PubAckRefused, type PendingResult, type ReplyInbox } from "./reply-inbox.js";
import type { AliasResolver } from "./alias-resolver.js";
import type { IdempotencyStore } from "./idempotency.js";
import type { SyncAdmission } from "./admission.js";
import type { TriggerMessage } from "../shared/trigger-message.js";
import { callDirect, type DirectOutcome } from "./direct-call.js";
import { pickAgent } from "./direct-affinity.js";
import type { AgentRegistry } from "./agent-registry.js";

/** A job may wait this long in the queue for a free agent slot, on top of the function's own timeout. */
export const QUEUE_ALLOWANCE_MS = 30_000;

export type Via = "http" | "grpc" | "nats";

export interface InvocationInput {
  name: string;
  /** The event's JSON text exactly as received; validated here. */
  event: Uint8Array;
  version?: number | undefined;
  /** Run the version this alias points to (split by its weights); not together with `version`. */
  alias?: string | undefined;
  via: Via;
  /** The caller's W3C traceparent, if it sent one: the invocation's trace then continues the caller's. */
  traceparent?: string | undefined;
  /** The caller's idempotency key (gateway/idempotency.ts), already checked. */
  idempotencyKey?: string | undefined;
  /** Functions invoked one from another's destination before this one (a trigger's message carries it); 0 if absent. */
  chainDepth?: number | undefined;
  /** The subject and headers of the trigger message that started it (shared/trigger-message.ts), already bounded. */
  message?: TriggerMessage | undefined;
}

/**
 * How a sync wait hears that its caller went away (an HTTP client hung up, a gRPC call was cancelled): it is given
 * the listener and returns how to remove it. A plain hook on the caller's own event, not an AbortController per call.
 */
export type CallerGone = (listener: () => void) => () => void;

export type SyncOutcome =
  | { kind: "result"; invocationId: string; /** the agent's InvocationResult JSON, untouched */ result: Uint8Array }
  | { kind: "running"; invocationId: string };

export interface InvokerOptions {
  /** Whether synchronous calls on the queue path also send the queued record carrying their event (async calls always do). */
  recordSyncEvents: boolean;
  /** How HTTP and gRPC sync calls reach an agent (WEFT_SYNC_PATH): a JetStream job (default), or a direct request. */
  syncPath?: "queue" | "direct";
  /** Direct calls go to their function's home agent, within a load bound (WEFT_DIRECT_AFFINITY; default true), else to any agent. */
  directAffinity?: boolean;
  syncWaitMs: number;
  maxInflight: number;
  publishTimeoutMs: number;
  /** A job publish no stream received is tried again for this long (WEFT_PUBLISH_RETRY_MS); default 0, not at all. */
  publishRetryMs?: number;
  /** A call to a version still building waits this long for the build (WEFT_BUILD_WAIT_MS); default 10 s. */
  buildWaitMs?: number;
}

/** What a BUILD_PENDING answer asks the client to wait (Retry-After, seconds). */
export const BUILD_RETRY_AFTER_S = 5;
/** How often a pinned version (not the latest, so not watched) is read again while it builds. */
const BUILD_POLL_MS = 250;

export interface InvokerDeps {
  js: JetStreamClient;
  link: NatsLink;
  cache: FunctionCache;
  inbox: ReplyInbox;
  log: Logger;
  options: InvokerOptions;
  /** Resolves `alias` to a version (a controller look-up, kept briefly); without it aliases are refused. */
  aliases?: AliasResolver;
  /** Claims idempotency keys; without it a call carrying one is refused. */
  idempotency?: IdempotencyStore;
  /**
   * How many synchronous calls are admitted at once (admission.ts): a sync call past it is shed (429) rather than
   * queued behind work that cannot start, as Lambda throttles past its concurrency. Async calls are queued by design
   * and are not bound by it. Without it, WEFT_MAX_INFLIGHT alone bounds them.
   */
  admission?: SyncAdmission;
  /** The running agents (their heartbeats): a direct call goes to its function's home among them. */
  agents?: Pick<AgentRegistry, "runningIds">;
}

/** One accepted invocation, between validation and publish. */
interface Job {
  invocationId: string;
  /** The version this call runs, resolved here: the latest, or the one the caller pinned. */
  fn: CachedFunction;
  event: Uint8Array;
  enqueuedAt: number;
  headers: MsgHdrs;
  traceId: string;
  span: Span;
  /** Set when the call claimed an idempotency key: records that its job is stored. */
  keyQueued?: () => Promise<void>;
}

const gatewayTracer = tracer("gateway");

export class Invoker {
  private inflight = 0;
  private syncInflight = 0;
  private idle: (() => void) | undefined;
  private closed = false;
  /** Direct calls this gateway has in flight on each agent it sent them to by name (direct-affinity.ts). */
  private readonly directByAgent = new Map<string, number>();

  constructor(private readonly deps: InvokerDeps) {}

  get inFlight(): number {
    return this.inflight;
  }

  /**
   * Runs the function and waits for its result, or answers "running" when the wait runs out. The caller waits for
   * the result, not for the job's PubAck: the ack only matters when no result comes (publish()'s retry and 503).
   */
  async invokeSync(input: InvocationInput, gone?: CallerGone): Promise<SyncOutcome> {
    return this.admitted(async () => {
      this.syncInflight++;
      try {
        return await this.runSync(input, gone);
      } finally {
        this.syncInflight--;
      }
    }, this.deps.admission?.bound());
  }

  private async runSync(input: InvocationInput, gone?: CallerGone): Promise<SyncOutcome> {
    const job = await this.accept(input);
    const replayed = await this.claimKey(job, input).catch((err: unknown) => { job.span.end(); throw err; });
    if (replayed !== undefined) return this.storedOutcome(replayed, job, gone);
    const { invocationId } = job;
    // A call with an idempotency key is queued: its key is released to replays once its job is stored.
    if (this.deps.options.syncPath === "direct" && job.keyQueued === undefined) {
      const direct = await this.tryDirect(job).catch((err: unknown) => { job.span.end(); throw err; });
      if (direct) {
        job.span.end();
        return direct;
      }
    }
    const pending = this.deps.inbox.expect(invocationId, this.syncWaitMs(job.fn));
    const stopListening = gone?.(() => pending.cancel());
    job.headers.set(HEADERS.replyTo, this.deps.inbox.subjectFor(invocationId));
    try {
      this.sendQueuedRecord(job);
      const result = await this.publish(job, pending);
      return result ? { kind: "result", invocationId, result } : { kind: "running", invocationId };
    } finally {
      stopListening?.();
      job.span.end();
    }
  }

  /**
   * Queues the invocation; resolves once JetStream has stored the job (at least once from then on). The queued
   * record follows the job, so a record never names a job that was not stored.
   */
  async invokeAsync(input: InvocationInput): Promise<InvocationAccepted> {
    return this.admitted(async () => {
      const job = await this.accept(input);
      try {
        const replayed = await this.claimKey(job, input);
        if (replayed !== undefined) return { invocationId: replayed, status: "queued" };
        await this.publish(job);
        await this.storeQueuedRecord(job);
        return { invocationId: job.invocationId, status: "queued" };
      } finally {
        job.span.end();
      }
    });
  }

  /** A NATS request: the agent answers the caller's own reply subject directly with the result object. */
  async forward(input: InvocationInput, replyTo: string): Promise<string> {
    return this.admitted(async () => {
      const job = await this.accept(input);
      job.headers.set(HEADERS.replyTo, replyTo);
      try {
        const replayed = await this.claimKey(job, input);
        if (replayed !== undefined) return await this.replyStored(replayed, job, replyTo);
        this.sendQueuedRecord(job);
        await this.publish(job);
        return job.invocationId;
      } finally {
        job.span.end();
      }
    });
  }

  /**
   * The direct sync path: the outcome, or undefined when no agent took the call (it is then queued). The call goes
   * to its function's home agent, or the next in its ranking when the home runs more than its share of this
   * gateway's direct calls (direct-affinity.ts); when that agent is gone (no one listens), to any agent.
   */
  private async tryDirect(job: Job): Promise<SyncOutcome | undefined> {
    const name = job.fn.name;
    const agent = this.deps.options.directAffinity === false ? undefined : pickAgent(name, this.deps.agents?.runningIds() ?? [], this.directByAgent);
    const call = { invocationId: job.invocationId, event: job.event, headers: job.headers, waitMs: this.syncWaitMs(job.fn) };
    let outcome: DirectOutcome;
    if (agent === undefined) outcome = await callDirect(this.deps.link.nc, this.deps.inbox, { ...call, subject: directSubject(name) });
    else {
      this.directByAgent.set(agent, (this.directByAgent.get(agent) ?? 0) + 1);
      try {
        outcome = await callDirect(this.deps.link.nc, this.deps.inbox, { ...call, subject: agentDirectSubject(name, agent) });
      } finally {
        const left = (this.directByAgent.get(agent) ?? 1) - 1;
        if (left === 0) this.directByAgent.delete(agent);
        else this.directByAgent.set(agent, left);
      }
      if (outcome.kind === "no-agent") outcome = await callDirect(this.deps.link.nc, this.deps.inbox, { ...call, subject: directSubject(name) });
    }
    if (outcome.kind !== "result") return undefined;
    return { kind: "result", invocationId: job.invocationId, result: outcome.result };
  }

  /** Resolves true once no invocation is in flight, false if that takes longer than `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idle = () => { clearTimeout(timer); resolve(true); };
    });
  }

  /** From now on new invocations are refused (UNAVAILABLE); those in flight go on. */
  close(): void {
    this.closed = true;
  }

  private async admitted<T>(work: () => Promise<T>, syncBound?: number): Promise<T> {
    if (this.closed) throw unavailable("this gateway (shutting down)");
    // Shed before any work: a refusal costs microseconds, so an overloaded gateway keeps its admitted calls fast.
    if (this.inflight >= this.deps.options.maxInflight) throw overloaded(this.deps.options.maxInflight);
    if (syncBound !== undefined && this.syncInflight >= syncBound) {
      this.deps.admission?.noteShed();
      throw overloaded(syncBound);
    }
    this.inflight++;
    try {
      return await work();
    } finally {
      if (--this.inflight === 0 && this.idle) {
        this.idle();
        this.idle = undefined;
      }
    }
  }

  private syncWaitMs(fn: CachedFunction): number {
    return Math.min(fn.limits.timeoutMs + QUEUE_ALLOWANCE_MS, this.deps.options.syncWaitMs);
  }

  /** Validates the call and builds its job; throws the WeftError a client should see. */
  private async accept(input: InvocationInput): Promise<Job> {
    const event = checkEvent(input.event);
    await this.deps.link.awaitUp();
    const fn = await this.built(await this.resolve(input.name, await this.versionOf(input)));
    const invocationId = randomUUID();
    const enqueuedAt = Date.now();
    const parent = input.traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent: input.traceparent }) : ROOT_CONTEXT;
    const span = gatewayTracer.startSpan(
      `invoke ${fn.name}`,
      { kind: SpanKind.PRODUCER, attributes: { "weft.function": fn.name, "weft.invocation_id": invocationId, "weft.via": input.via } },
      parent,
    );
    const h = natsHeaders();
    h.set(HEADERS.invocationId, invocationId);
    h.set(HEADERS.enqueuedAt, String(enqueuedAt));
    // Always the version and incarnation resolved here: a redelivered job runs exactly what was accepted, a
    // lagging agent cannot run an older version, and a job of a deleted function never runs.
    h.set(HEADERS.version, String(fn.version));
    h.set(HEADERS.incarnation, fn.incarnation);
    if (input.chainDepth) h.set(HEADERS.chainDepth, String(input.chainDepth));
    if (input.message) h.set(HEADERS.message, JSON.stringify(input.message));
    const traceId = injectTraceContext(span, h);
    this.deps.log.debug({ invocationId, traceId, fn: fn.name, version: fn.version, via: input.via }, "invocation accepted");
    return { invocationId, fn, event, enqueuedAt, headers: h, traceId, span };
  }

  /** The version the caller pinned, or the one its alias picks for this call. */
  private async versionOf(input: InvocationInput): Promise<number | undefined> {
    if (input.alias === undefined) return input.version;
    if (input.version !== undefined) throw invalid("alias", "cannot be combined with version");
    const latest = this.deps.cache.get(input.name);
    if (!latest) throw notFound(`function ${input.name}`);
    if (!this.deps.aliases) throw new WeftError("INTERNAL", "this gateway was built without an alias resolver");
    return this.deps.aliases.version(input.name, latest.incarnation, input.alias);
  }

  /** The version once its build is ready: waits (bounded) while it builds; BUILD_PENDING or BUILD_FAILED otherwise. */
  private async built(fn: CachedFunction): Promise<CachedFunction> {
    let current = fn;
    const deadline = Date.now() + (this.deps.options.buildWaitMs ?? 10_000);
    while (current.build?.status === "building" && Date.now() < deadline) {
      current = (await this.afterBuildChange(current, deadline)) ?? current;
    }
    const build = current.build;
    if (build?.status === "building") {
      throw new WeftError("BUILD_PENDING", `version ${current.version} of ${current.name} is still building (since ${build.startedAt}); retry in ${BUILD_RETRY_AFTER_S} s`);
    }
    if (build?.status === "failed") {
      throw new WeftError("BUILD_FAILED", `version ${current.version} of ${current.name} did not build:\n${build.error ?? "(no log)"}`);
    }
    return current;
  }

  /** The version again once the bucket shows a change (the latest is watched; a pinned one is read again). */
  private async afterBuildChange(fn: CachedFunction, deadline: number): Promise<CachedFunction | undefined> {
    const { cache } = this.deps;
    const same = (f: CachedFunction | undefined) => f?.incarnation === fn.incarnation && f.version === fn.version;
    const latest = cache.get(fn.name);
    if (same(latest)) {
      await cache.waitFor(fn.name, (f) => !same(f) || f?.build?.status !== "building", Math.max(0, deadline - Date.now()));
      const now = cache.get(fn.name);
      return same(now) ? now : this.pinned(fn);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(BUILD_POLL_MS, Math.max(0, deadline - Date.now()))));
    return this.pinned(fn);
  }

  private async pinned(fn: CachedFunction): Promise<CachedFunction | undefined> {
    try {
      return await this.deps.cache.version(fn.name, fn.incarnation, fn.version);
    } catch (err) {
      throw unavailable("the functions bucket", err);
    }
  }

  private async resolve(name: string, version: number | undefined): Promise<CachedFunction> {
    const latest = this.deps.cache.get(name);
    if (!latest) throw notFound(`function ${name}`);
    if (version === undefined || version === latest.version) return latest;
    // Within an incarnation version numbers only grow, so a number past the latest cannot exist.
    if (version > latest.version) throw notFound(`version ${version} of function ${name}`);
    let pinned: CachedFunction | undefined;
    try {
      // Only the live incarnation's versions: those of a deleted function with this name are gone.
      pinned = await this.deps.cache.version(name, latest.incarnation, version);
    } catch (err) {
      throw unavailable("the functions bucket", err);
    }
    if (!pinned) throw notFound(`version ${version} of function ${name}`);
    return pinned;
  }

  // ---- Idempotency keys: the invoker's one step for them; the rules live in gateway/idempotency.ts. ----

  /**
   * Claims the call's key before anything is published. Undefined: publish as usual (the key, if any, is now this
   * call's). An invocation id: an earlier call with this key and function owns it, and nothing is published.
   */
  private async claimKey(job: Job, input: InvocationInput): Promise<string | undefined> {
    if (input.idempotencyKey === undefined) return undefined;
    if (!this.deps.idempotency) throw new WeftError("INTERNAL", "this gateway was built without an idempotency store");
    const claim = await this.deps.idempotency.claim(job.fn, input.idempotencyKey, job.invocationId, job.event);
    if (claim.kind === "replay") return claim.invocationId;
    if (claim.kind === "adopt") {
      job.invocationId = claim.invocationId;
      job.headers.set(HEADERS.invocationId, claim.invocationId);
    }
    job.keyQueued = claim.queued;
    return undefined;
  }

  /** A sync call whose key names an earlier invocation: that invocation's stored result, or "running". */
  private async storedOutcome(invocationId: string, job: Job, gone?: CallerGone): Promise<SyncOutcome> {
    const abort = new AbortController();
    const stopListening = gone?.(() => abort.abort());
    try {
      const result = await this.deps.idempotency!.storedResult(invocationId, this.syncWaitMs(job.fn), abort.signal);
      return result ? { kind: "result", invocationId, result } : { kind: "running", invocationId };
    } finally {
      stopListening?.();
      job.span.end();
    }
  }

  /** The same for a NATS request: the stored result goes to the requester's reply subject. */
  private async replyStored(invocationId: string, job: Job, replyTo: string): Promise<string> {
    const result = await this.deps.idempotency!.storedResult(invocationId, this.syncWaitMs(job.fn));
    this.deps.link.nc.publish(replyTo, result ?? JSON.stringify({ invocationId, status: "running" }));
    return invocationId;
  }

  /**
   * Stores the job: a core publish whose PubAck comes back to this gateway's inbox (no request and promise of its
   * own per publish). A publish that got no PubAck in time may have been stored all the same, so it is retried
   * with the same Nats-Msg-Id (the stream de-duplicates within its window) before the caller hears anything; a
   * 503 after an ambiguous attempt says so and carries the invocation id (REVIEW C7).
   *
   * With `pending` (a sync call) it resolves with the result as soon as the agent answers, stored ack or not: an
   * answer proves the job was stored. Without, it resolves once JetStream has stored the job.
   */
  private async publish(job: Job, pending?: PendingResult): Promise<Uint8Array | undefined> {
    job.headers.set(HEADERS.msgId, job.invocationId);
    // Only an agent's answer proves the job was stored: a sync wait that ran out before the PubAck came does not,
    // so the publish goes on until the ack says stored (then the call is "running") or the publish fails.
    const answered = pending?.result.then((result) => (result ? { kind: "answered" as const, result } : new Promise<never>(() => undefined)));
    // A no-responders refusal (nothing stored: a cluster stream electing its leader after its node went) is
    // tried again for WEFT_PUBLISH_RETRY_MS, so a node's loss costs the caller a wait, not a 503.
    const retryUntil = Date.now() + (this.deps.options.publishRetryMs ?? 0);
    let timeouts = 0;
    for (let attempt = 1; ; attempt++) {
      const ack = this.deps.inbox.expectAck(job.invocationId, this.deps.options.publishTimeoutMs);
      try {
        this.deps.link.nc.publish(jobSubject(job.fn.name), job.event, { headers: job.headers, reply: this.deps.inbox.ackSubjectFor(job.invocationId) });
      } catch (err) {
        ack.cancel();
        pending?.cancel();
        throw this.publishFailure(job, "job", err, attempt > 1);
      }
      const first = answered ? await Promise.race([answered, ack.outcome]) : await ack.outcome;
      if (first.kind === "answered") {
        ack.cancel();
        void job.keyQueued?.();
        return first.result;
      }
      if (first.kind === "stored") {
        void job.keyQueued?.();
        return pending?.result;
      }
      if (first.kind === "timeout") timeouts++;
      const wait = Math.min(NO_RESPONDERS_BACKOFF_MS * attempt, NO_RESPONDERS_BACKOFF_MAX_MS, retryUntil - Date.now());
      if (first.kind === "refused" && first.error.noResponders && wait > 0) {
        const pause = new Promise<undefined>((r) => setTimeout(() => r(undefined), wait));
        const late = await (answered ? Promise.race([pause, answered]) : pause);
        if (late) {
          void job.keyQueued?.(); // answered: stored after all
          return late.result;
        }
        continue;
      }
      if (first.kind === "refused" || timeouts >= PUBLISH_ATTEMPTS) {
        pending?.cancel();
        const err = first.kind === "refused" ? first.error : new Error(`no PubAck within ${this.deps.options.publishTimeoutMs} ms (timeout)`);
        throw this.publishFailure(job, "job", err, timeouts > 0);
      }
    }
  }

  /**
   * The queued phase of the record carries the event. A synchronous call sends it without waiting for an ack
   * (a core publish into the records stream, de-duplicated by id): the result is what the caller came for, and
   * a lost queued phase only costs the record its copy of the event.
   */
  private sendQueuedRecord(job: Job): void {
    if (!this.deps.options.recordSyncEvents) return;
    const h = natsHeaders();
    h.set(HEADERS.msgId, recordMsgId(job.invocationId, "queued"));
    try {
      this.deps.link.nc.publish(recordSubject(job.fn.name), JSON.stringify(queuedRecordOf(job, false)), { headers: h });
    } catch (err) {
      invocationLogger(this.deps.log, job.invocationId, job.traceId, job.fn.name).warn({ err }, "sending the queued record failed");
    }
  }

  /**
   * An async call waits for the record's ack, so the record can be read as soon as the caller has its id. If
   * that fails the job is stored all the same (the promise made to the caller): it runs, and its final
   * record lands without the event.
   */
  private async storeQueuedRecord(job: Job): Promise<void> {
    const data = JSON.stringify(queuedRecordOf(job, true));
    await this.deps.js
      .publish(recordSubject(job.fn.name), data, { msgID: recordMsgId(job.invocationId, "queued"), timeout: this.deps.options.publishTimeoutMs })
      .then(
        () => undefined,
        (err: unknown) => void this.publishFailure(job, "queued record", err),
      );
  }

  private publishFailure(job: Job, what: string, err: unknown, ambiguous = false): WeftError {
    const log = invocationLogger(this.deps.log, job.invocationId, job.traceId, job.fn.name);
    log.warn({ err, ambiguous }, `publishing the ${what} failed`);
    const full = (err instanceof JetStreamApiError && err.code === STREAM_FULL_CODE) || (err instanceof PubAckRefused && err.errCode === STREAM_FULL_CODE);
    if (full || (err instanceof Error && /maximum (messages|bytes)/i.test(err.message))) {
      return new WeftError("RESOURCE_EXHAUSTED", "the invocation queue is full; retry later", undefined, { cause: err });
    }
    if (ambiguous) {
      return new WeftError(
        "UNAVAILABLE",
        `the invocation queue (NATS JetStream) did not confirm the invocation in time; it may have been accepted: look up invocation ${job.invocationId} before retrying`,
        undefined,
        { cause: err, invocationId: job.invocationId },
      );
    }
    return unavailable("the invocation queue (NATS JetStream)", err);
  }
}

/** More calls in flight than this gateway admits: 429 with Retry-After over HTTP, the same in gRPC metadata. */
export class Overloaded extends WeftError {
  readonly retryAfterS = 1;
  constructor(maxInflight: number) {
    super("RESOURCE_EXHAUSTED", `too many invocations in flight on this gateway (${maxInflight}); retry in 1 s`);
  }
}

/** The refusal of a call past a bound: an outcome under load, answered thousands of times a second, so no stack. */
export function overloaded(bound: number): Overloaded {
  return withoutStack(() => new Overloaded(bound));
}

/** A timed-out publish is tried this many times with the same message id before the caller is answered. */
const PUBLISH_ATTEMPTS = 3;
/** After a no-responders refusal the publish is tried again this much later, growing by as much each time. */
const NO_RESPONDERS_BACKOFF_MS = 100;
const NO_RESPONDERS_BACKOFF_MAX_MS = 500;
/** JetStream's "maximum messages exceeded" (a DiscardNew stream at its limit). */
const STREAM_FULL_CODE = 10077;


function queuedRecordOf(job: Job, async: boolean): RecordEvent {
  return queuedRecord({
    invocationId: job.invocationId,
    functionName: job.fn.name,
    enqueuedAt: job.enqueuedAt,
    async,
    traceId: job.traceId,
    eventText: Buffer.from(job.event.buffer, job.event.byteOffset, job.event.byteLength).toString("utf8"),
    version: job.fn.version,
    incarnation: job.fn.incarnation,
  });
}
