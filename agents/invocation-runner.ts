// Runs one job end to end: resolve the function's definition, take a container, run the event, reply to
// the caller, publish the final record, then ack, nak or term the job (outcome.ts decides which).
import { directJobId, queuedRecord } from "../shared/records.js";
import type { JsMsg } from "@nats-io/jetstream";
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { respondWithError } from "../shared/error-reply.js";
import { SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import { randomBytes } from "node:crypto";
import { HEADERS } from "../shared/headers.js";
import { invocationLogger, type Logger } from "../shared/logger.js";
import { FUNCTION_NAME_PATTERN, type AsyncConfig, type FunctionDefinition } from "../shared/schemas/function.js";
import { AttemptList, type Attempt, type RecordEvent } from "../shared/schemas/invocation.js";
import { afterAttempt, asyncConfigOf, isExpired } from "./async-policy.js";
import { AsyncFollowup, followable } from "./async-followup.js";
import { functionOfDirectSubject, JOBS_SUBJECT_PREFIX } from "../shared/subjects.js";
import { WeftError } from "../shared/errors.js";
import { handBack } from "./direct-intake.js";
import { parseTriggerMessage, type TriggerMessage } from "../shared/trigger-message.js";
import { extractTraceContext, tracer } from "../shared/telemetry.js";
import type { FunctionCache } from "./function-cache.js";
import {
  expired,
  finalRecord,
  fromInitFailure,
  fromRun,
  givenUp,
  isLastDelivery,
  nextStep,
  refused,
  resultJson,
  type Ending,
  type InvocationMeta,
} from "./outcome.js";
import { PlatformError, type Pool } from "./pool.js";
import { scanJson } from "../shared/json-scan.js";
import { LIMITS } from "../shared/limits.js";
import type { FinalEnding } from "./outcome.js";
import type { JobSettings } from "../shared/nats.js";
import { OutboxWriteError, type RecordOutbox } from "./record-outbox.js";
import { batchBytesFor, RecordBatcher } from "./record-batch.js";
import type { StallWatch } from "./stall-watch.js";
import type { JobLeases } from "./job-lease.js";

export interface InvocationRunnerOptions {
  agentId: string;
  /** The jobs consumer's settings as the server has them (job-settings.ts). */
  jobs: JobSettings;
  /** Keeps each held job's lease alive with confirmed progress acks (job-lease.ts). */
  leases: JobLeases;
  runningRecordAfterMs: number;
  retryDelayMs: number;
  /** A finished job's record waits this long for others to share its batch (record-batch.ts); 0: the end of the turn. */
  recordLingerMs?: number;
}

/** A job as it arrives on WEFT_JOBS: from a gateway (with headers) or published directly (data only). */
export interface Job {
  invocationId: string;
  functionName: string;
  version: number | undefined;
  /** The incarnation the gateway resolved; for a job published straight to JetStream, the one it runs in once resolved. */
  incarnation: string | undefined;
  replyTo: string | undefined;
  enqueuedAt: number;
  /** The event's JSON bytes, exactly as published. */
  event: Uint8Array;
  /** Published by a gateway, which has already checked the event is JSON and within its size limit. */
  fromGateway: boolean;
  /**
   * context.attempt: every attempt counts, of either kind (a platform redelivery, a retry after a handler failure),
   * so a handler can tell a re-run from the first run: the earlier tries' attempts, plus this job's delivery.
   */
  attempt: number;
  /** Which retry after a handler failure this is (0: the first try); bounded by async.maxRetries. */
  retry: number;
  /** JetStream's delivery of this job (platform redeliveries), bounded by the consumer's max deliveries. */
  delivery: number;
  /** Earlier tries' attempts (on a retry). */
  attempts: Attempt[];
  chainDepth: number;
  traceparent: string | undefined;
  /** The trigger message's subject and headers (context.subject, context.headers); a malformed header is dropped. */
  message: TriggerMessage | undefined;
  /** The function's async policy, once its definition is resolved. */
  asyncConfig?: AsyncConfig;
  /** A direct call's: by when (epoch ms) its caller must have heard, less a margin; its run must end by then. */
  answerBy?: number;
}

export function parseJob(msg: JsMsg): Job {
  const functionName = msg.subject.slice(JOBS_SUBJECT_PREFIX.length + 1);
  return jobOf(msg.headers, functionName, msg.data, msg.info.deliveryCount, () => directJobId(msg.seq, msg.info.timestampNanos / 1e6));
}

/**
 * A direct sync call (direct-intake.ts): only a gateway sends one, so a request without an invocation id is not a
 * call (undefined). It is delivered once, and answered on the request's own reply subject.
 */
export function parseDirectCall(msg: Msg): Job | undefined {
  if (!msg.reply || !msg.headers?.get(HEADERS.invocationId)) return undefined;
  const job = jobOf(msg.headers, functionOfDirectSubject(msg.subject), msg.data, 1, () => "");
  const waitMs = positiveInt(msg.headers.get(HEADERS.waitMs));
  return { ...job, replyTo: msg.reply, ...(waitMs === undefined ? {} : { answerBy: Date.now() + waitMs - DIRECT_ANSWER_MARGIN_MS }) };
}

/** A direct call's run ends this long before its caller stops waiting: the answer's trip, a container's start. */
const DIRECT_ANSWER_MARGIN_MS = 1000;

function jobOf(h: MsgHdrs | undefined, functionName: string, event: Uint8Array, delivery: number, idOfDirectJob: () => string): Job {
  const attempts = attemptsOf(h?.get(HEADERS.attempts));
  const invocationId = h?.get(HEADERS.invocationId) || idOfDirectJob();
  const version = Number(h?.get(HEADERS.version) || NaN);
  const enqueuedAt = Number(h?.get(HEADERS.enqueuedAt) || NaN);
  return {
    invocationId,
    functionName,
    version: Number.isInteger(version) && version > 0 ? version : undefined,
    // Cut, not refused: a malformed one matches no live incarnation, so the job ends FUNCTION_DELETED.
    incarnation: h?.get(HEADERS.incarnation).slice(0, 64) || undefined,
    replyTo: h?.get(HEADERS.replyTo) || undefined,
    enqueuedAt: Number.isFinite(enqueuedAt) ? enqueuedAt : Date.now(),
    event,
    fromGateway: Boolean(h?.get(HEADERS.invocationId)),
    attempt: (attempts.at(-1)?.attempt ?? 0) + delivery,
    retry: positiveInt(h?.get(HEADERS.retry)) ?? 0,
    delivery,
    attempts,
    chainDepth: positiveInt(h?.get(HEADERS.chainDepth)) ?? 0,
    traceparent: h?.get(HEADERS.traceparent) || undefined,
    message: parseTriggerMessage(h?.get(HEADERS.message)),
  };
}

function positiveInt(text: string | undefined): number | undefined {
  const n = Number(text || NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Only retries carry the header; a malformed one (a hand-made job) just loses the history. */
function attemptsOf(text: string | undefined): Attempt[] {
  if (!text) return [];
  try {
    const parsed = AttemptList.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}


function traceIdOf(span: Span): string {
  const sc = span.spanContext();
  return trace.isSpanContextValid(sc) ? sc.traceId : randomBytes(16).toString("hex");
}

/** The outcome of an invocation the agent itself failed: after the handler ran (`ending` final) or before. */
function platformFailure(ending: Ending | undefined, err: Error): FinalEnding {
  const ran = ending?.kind === "final";
  return {
    kind: "final",
    status: "killed",
    error: { code: "PLATFORM_ERROR", message: `the agent failed while ${ran ? "delivering the outcome" : "starting the invocation"}: ${err.message}` },
    logs: ran ? ending.logs : "",
    logsTruncated: ran ? ending.logsTruncated : false,
    coldStart: ending?.coldStart ?? false,
    durationMs: ran ? ending.durationMs : 0,
  };
}

export class InvocationRunner {
  private readonly tracer = tracer("agent");
  private readonly followup: AsyncFollowup;
  private readonly records: RecordBatcher;

  constructor(
    private readonly nc: NatsConnection,
    private readonly functions: FunctionCache,
    private readonly pool: Pool,
    outbox: RecordOutbox,
    private readonly stalls: StallWatch,
    private readonly opts: InvocationRunnerOptions,
    private readonly log: Logger,
  ) {
    this.followup = new AsyncFollowup(nc, outbox);
    this.records = new RecordBatcher(outbox, opts.agentId, { maxBytes: batchBytesFor(nc.info?.max_payload), lingerMs: opts.recordLingerMs ?? 0 });
  }

  /** `slotFree` is called once the job's run is over (the container released), before its record is stored. */
  async handle(msg: JsMsg, slotFree?: () => void): Promise<void> {
    const job = parseJob(msg);
    const { span, log, meta } = this.begin(job, msg.headers);
    const { traceId } = meta;
    // A long invocation tells JetStream it is alive, so the job is not handed to another agent meanwhile.
    const lease = this.opts.leases.hold(msg);
    let ending: Ending | undefined;
    const heldSince = performance.now();
    try {
      if (!job.fromGateway) this.publishRecordLater(this.directQueuedRecord(job, traceId), log);
      ending = await this.execute(job, meta, lease, log);
      slotFree?.();
      if (this.leaseLost(heldSince, lease, job, log)) return;
      await this.conclude(msg, job, meta, ending, span, log);
    } catch (err) {
      if (err instanceof OutboxWriteError) {
        // Its record is neither in JetStream nor on disk: the job goes back rather than be acked without it.
        log.error({ err }, "the invocation's record could not be stored; handing the job back");
        msg.nak(this.opts.retryDelayMs);
        return;
      }
      log.error({ err }, "invocation failed inside the agent");
      span.recordException(err as Error);
      if (this.leaseLost(heldSince, lease, job, log)) return;
      await this.salvage(msg, job, meta, ending, err as Error, log);
    } finally {
      this.opts.leases.release(lease);
      span.end();
    }
  }

  /**
   * A direct sync call (direct-intake.ts): run once and answered on its reply subject, with no job to ack. One that
   * did not run to an outcome (no container, a platform failure, an agent fault before the handler ran) is handed
   * back, and the gateway queues it on WEFT_JOBS, where platform failures are retried as for any job.
   */
  async handleDirect(msg: Msg, slotFree?: () => void): Promise<void> {
    const job = parseDirectCall(msg);
    if (!job) {
      if (msg.reply) respondWithError(msg, new WeftError("INVALID_ARGUMENT", "a direct call needs a reply subject and a Weft-Invocation-Id header"));
      return;
    }
    const { span, log, meta } = this.begin(job, msg.headers);
    let ending: Ending | undefined;
    try {
      ending = await this.execute(job, meta, UNCONTESTED, log);
      slotFree?.();
      if (ending.kind !== "final") {
        log.info({ reason: ending.message }, "direct call handed back to be queued");
        handBack(msg, log);
        return;
      }
      const record = this.answer(job, meta, ending, span, log);
      // The caller has its result: a record that could not be stored is logged (no job is left to hand back).
      await this.publishRecord(record).catch((err: unknown) => log.error({ err }, "a direct call's record could not be stored"));
    } catch (err) {
      span.recordException(err as Error);
      log.error({ err }, "direct call failed inside the agent");
      // Not run to an outcome: queued instead. Run, but the answer failed: the caller hears PLATFORM_ERROR.
      if (ending?.kind !== "final") handBack(msg, log);
      else await this.reportPlatformFailure(job, meta, platformFailure(ending, err as Error), log).catch((e: unknown) => log.error({ err: e }, "a failed direct call's record could not be stored"));
    } finally {
      span.end();
    }
  }

  /** The span, logger and record fields of one attempt. */
  private begin(job: Job, headers: MsgHdrs | undefined): { span: Span; log: Logger; meta: InvocationMeta } {
    const extracted = extractTraceContext(headers);
    const span = this.tracer.startSpan(
      `invoke ${job.functionName}`,
      { attributes: { "weft.invocation_id": job.invocationId, "weft.function": job.functionName, "weft.attempt": job.attempt, "weft.delivery": job.delivery } },
      extracted.ctx,
    );
    // A job published straight into the stream carries no trace context: its logs still share one trace id.
    const traceId = extracted.traceId || traceIdOf(span);
    const log = lazyLogger(this.log, () => invocationLogger(this.log, job.invocationId, traceId, job.functionName));
    const meta: InvocationMeta = {
      invocationId: job.invocationId,
      functionName: job.functionName,
      version: job.version ?? 0,
      agent: this.opts.agentId,
      enqueuedAt: job.enqueuedAt,
      startedAt: Date.now(),
      traceId,
      attempt: job.attempt,
    };
    return { span, log, meta };
  }

  private async execute(job: Job, meta: InvocationMeta, lease: Lease, log: Logger): Promise<Ending> {
    let def: FunctionDefinition | undefined;
    try {
      def = await this.resolve(job);
    } catch (err) {
      log.warn({ err }, "function definitions unavailable");
      return { kind: "platform", message: `function definitions unavailable: ${(err as Error).message}`, coldStart: false };
    }
    if (!def) return refused("FUNCTION_DELETED", this.missing(job));
    meta.version = def.version;
    job.asyncConfig = asyncConfigOf(def);
    // An async event past its function's maximum age is not started (Lambda's MaximumEventAgeInSeconds).
    if (!job.replyTo && isExpired(job.enqueuedAt, job.asyncConfig, Date.now())) return expired(Date.now() - job.enqueuedAt, job.asyncConfig.maxEventAgeMs);
    if (!job.fromGateway) {
      const scan = job.event.length === 0 ? undefined : scanJson(job.event, LIMITS.jsonDepth);
      if (scan && !scan.ok) {
        return refused("INVALID_EVENT", scan.reason === "depth" ? `the event is nested deeper than ${LIMITS.jsonDepth} levels` : "the event is not JSON");
      }
    }
    return this.runOn(def, job, meta, lease, log);
  }

  private async runOn(def: FunctionDefinition, job: Job, meta: InvocationMeta, lease: Lease, log: Logger): Promise<Ending> {
    const acquireStarted = performance.now();
    // A direct call starts only if its run can end before its caller stops waiting; else it is handed back now,
    // while the caller still waits to queue it.
    const startBy = job.answerBy === undefined ? Infinity : job.answerBy - def.limits.timeoutMs;
    if (Date.now() >= startBy) return { kind: "platform", message: "the caller's wait is too short for this call to start here", coldStart: false };
    let acquired;
    try {
      // Waiting for a container is bounded: past the ack wait the job goes back for another agent (REVIEW C1).
      acquired = await this.pool.acquire(def, Math.min(Date.now() + this.opts.jobs.ackWaitMs, startBy));
    } catch (err) {
      if (!(err instanceof PlatformError)) throw err;
      log.warn({ err }, "no container for the invocation");
      return { kind: "platform", message: err.message, coldStart: true };
    }
    if (!acquired.ok && "deleted" in acquired) return refused("FUNCTION_DELETED", `function ${def.name} was deleted while this invocation waited`);
    if (!acquired.ok) return fromInitFailure(acquired.init, elapsedMs(acquireStarted));
    const { container, coldStart } = acquired.lease;
    if (!lease.valid() && !isLastDelivery(job.delivery, this.opts.jobs.maxDeliver)) {
      // The job may be running elsewhere by now: do not run it here as well (handle() then drops this attempt).
      acquired.lease.release();
      return { kind: "platform", message: "the job's lease ran out while it waited for a container", coldStart };
    }
    const started = Date.now();
    // Durations in fractional ms: a warm call takes well under one, and whole ms would record it as 0.
    const runStarted = performance.now();
    meta.startedAt = started;
    // "running" means the handler has started (REVIEW C13): a job still waiting here for a container is queued.
    const running = this.opts.runningRecordAfterMs > 0
      ? setTimeout(() => this.publishRecordLater(this.runningRecord(job, meta), log), this.opts.runningRecordAfterMs)
      : undefined;
    try {
      const ctx = {
        invocationId: job.invocationId,
        functionName: def.name,
        version: def.version,
        memoryMb: def.limits.memoryMb,
        deadline: started + def.limits.timeoutMs,
        traceId: meta.traceId,
        attempt: job.attempt,
        ...(job.message ? { subject: job.message.subject, headers: job.message.headers } : {}),
      };
      const run = await container.run(ctx, job.event, def.limits.timeoutMs);
      return fromRun(run, coldStart, elapsedMs(runStarted), def.limits.timeoutMs);
    } finally {
      clearTimeout(running);
      acquired.lease.release();
    }
  }

  private async resolve(job: Job): Promise<FunctionDefinition | undefined> {
    if (!FUNCTION_NAME_PATTERN.test(job.functionName)) return undefined;
    // A deleted function stops at once, even for a pinned version, and so does a job of an earlier incarnation.
    const latest = await this.functions.latest(job.functionName, job.incarnation);
    if (!latest || (job.incarnation !== undefined && latest.incarnation !== job.incarnation)) return undefined;
    job.incarnation = latest.incarnation;
    if (job.version === undefined) return latest;
    return this.functions.version(job.functionName, latest.incarnation, job.version);
  }

  private missing(job: Job): string {
    if (!FUNCTION_NAME_PATTERN.test(job.functionName)) return `there is no function named ${JSON.stringify(job.functionName)}`;
    if (job.incarnation !== undefined) return `function ${job.functionName} was deleted (or deleted and created again) after this invocation was queued`;
    if (job.version !== undefined) return `function ${job.functionName} has no version ${job.version} (or was deleted)`;
    return `function ${job.functionName} does not exist (deleted?)`;
  }

  private async conclude(msg: JsMsg, job: Job, meta: InvocationMeta, ending: Ending, span: Span, log: Logger): Promise<void> {
    const step = nextStep(ending, job.delivery, this.opts.jobs.maxDeliver);
    if (step === "nak") {
      log.warn({ attempt: job.attempt, reason: ending.kind === "platform" ? ending.message : undefined }, "invocation handed back for retry");
      msg.nak(this.opts.retryDelayMs);
      return;
    }
    const final = ending.kind === "final" ? ending : givenUp(ending, job.delivery);
    const attempts = this.attemptsWith(job, meta, final);
    const after = this.asyncStep(job, final);
    if (after.kind === "retry") {
      await this.followup.scheduleRetry(job, meta.version, attempts, after.dueAt);
      log.info({ attempt: job.attempt, retry: job.retry, status: final.status, error: final.error?.code, retryInMs: after.dueAt - Date.now() }, "async invocation failed; retry scheduled");
      msg.ack();
      return;
    }
    const record = this.answer(job, meta, final, span, log, attempts);
    // The record is stored before the job is acked: a crash in between re-runs the job rather than lose its record.
    await this.publishRecord(record);
    if (after.kind === "dead") await this.endAsync(job, meta, record, after.reason, log);
    else if (final.status === "ok" && job.asyncConfig?.onSuccess && !job.replyTo && followable(job.invocationId)) await this.followup.send(job.asyncConfig.onSuccess, record, job, log);
    if (step === "term") msg.term("platform failure on the last attempt");
    else msg.ack();
  }

  /** Answers a sync caller, ends the span's story and logs the outcome; returns the final record to store. */
  private answer(job: Job, meta: InvocationMeta, final: FinalEnding, span: Span, log: Logger, attempts = this.attemptsWith(job, meta, final)): RecordEvent {
    if (job.replyTo) this.nc.publish(job.replyTo, resultJson(final, meta));
    span.setAttributes({ "weft.status": final.status, "weft.cold_start": final.coldStart, "weft.version": meta.version });
    if (final.status !== "ok") span.setStatus({ code: SpanStatusCode.ERROR, message: final.error?.code });
    const fields = { status: final.status, durationMs: final.durationMs, coldStart: final.coldStart, version: meta.version, error: final.error?.code };
    if (final.status === "ok") log.debug(fields, "invocation finished");
    else log.info(fields, "invocation finished");
    return { ...finalRecord(final, meta, Date.now(), job.replyTo && eventIsValid(job) ? job.event : undefined), incarnation: job.incarnation, attempts };
  }

  private attemptsWith(job: Job, meta: InvocationMeta, final: FinalEnding): Attempt[] {
    return [...job.attempts, this.attemptOf(job, meta, final.status, final.error?.code)];
  }

  /**
   * The queued phase of a job published straight to JetStream: it carries the event only when the event is
   * JSON within the nesting limit (the job then ends INVALID_EVENT), so no reader ever parses a hostile one.
   */
  private directQueuedRecord(job: Job, traceId: string): RecordEvent {
    const valid = eventIsValid(job);
    const record = queuedRecord({
      invocationId: job.invocationId,
      functionName: job.functionName,
      enqueuedAt: job.enqueuedAt,
      async: !job.replyTo,
      traceId,
      eventText: valid ? Buffer.from(job.event).toString("utf8") : "",
    });
    return valid ? record : { ...record, event: "null", eventTruncated: true };
  }

  /**
   * True when JetStream may have handed the job to another agent: no progress ack was confirmed within the
   * ack wait (the agent was cut off from NATS, or too slow), or this process stalled long enough while it held
   * the job. The attempt is then fenced: its outcome is not replied, recorded or acked, so it can never
   * overwrite the outcome of the attempt that now owns the job; if no other agent took it, the server
   * redelivers it (at least once). On the last delivery no other attempt can follow, so the outcome stands:
   * fencing it would only leave the controller's `killed` / PLATFORM_ERROR for a call that ran.
   */
  private leaseLost(heldSince: number, lease: Lease, job: Job, log: Logger): boolean {
    const stallMs = Math.round(this.stalls.longestSince(heldSince));
    const ackWaitMs = this.opts.jobs.ackWaitMs;
    const stalled = stallMs >= ackWaitMs / 2;
    if (!stalled && lease.valid()) return false;
    const why = stalled ? { stallMs, ackWaitMs } : { expiredForMs: lease.expiredForMs(), ackWaitMs };
    if (isLastDelivery(job.delivery, this.opts.jobs.maxDeliver)) {
      log.warn({ ...why, delivery: job.delivery }, "this job's lease may be lost, but no delivery can follow this one: its outcome stands");
      return false;
    }
    if (stalled) log.warn(why, "the agent stalled while holding this job; its lease may be lost, so this attempt's outcome is dropped");
    else log.warn(why, "no progress ack for this job reached JetStream within the ack wait; its lease is lost, so this attempt's outcome is dropped");
    return true;
  }

  /**
   * The agent itself failed while handling a job. Before the handler ran, the job goes back (or, on its
   * last delivery, ends as a platform error); once it ran, its outcome is final and the job is never run
   * again: the caller and the record get PLATFORM_ERROR naming what failed.
   */
  private async salvage(msg: JsMsg, job: Job, meta: InvocationMeta, ending: Ending | undefined, err: Error, log: Logger): Promise<void> {
    try {
      const ran = ending !== undefined && ending.kind === "final";
      if (!ran && !isLastDelivery(job.delivery, this.opts.jobs.maxDeliver)) {
        msg.nak(this.opts.retryDelayMs);
        return;
      }
      await this.reportPlatformFailure(job, meta, platformFailure(ending, err), log);
      if (ran) msg.ack();
      else msg.term("platform failure on the last attempt");
    } catch (salvageErr) {
      if (salvageErr instanceof OutboxWriteError) {
        log.error({ err: salvageErr }, "the salvaged invocation's record could not be stored; handing the job back");
        msg.nak(this.opts.retryDelayMs);
        return;
      }
      log.error({ err: salvageErr }, "salvaging a failed invocation failed; acking it so it does not run again");
      msg.ack();
    }
  }

  /** Tells the caller (if any) and the records that the agent itself failed this invocation. */
  private async reportPlatformFailure(job: Job, meta: InvocationMeta, final: FinalEnding, log: Logger): Promise<void> {
    if (job.replyTo) {
      try {
        this.nc.publish(job.replyTo, resultJson(final, meta));
      } catch (replyErr) {
        log.warn({ err: replyErr }, "replying to the caller failed");
      }
    }
    await this.publishRecord(finalRecord(final, meta, Date.now()));
  }

  /** What follows an attempt of an async invocation (a sync caller retries for itself, as on Lambda). */
  private asyncStep(job: Job, final: FinalEnding): ReturnType<typeof afterAttempt> {
    if (job.replyTo || !job.asyncConfig || !followable(job.invocationId)) return { kind: "done" };
    return afterAttempt(final, job.retry, job.asyncConfig, Date.now());
  }

  /** An async invocation failed for good or expired: its event is dead-lettered, its record sent to onFailure. */
  private async endAsync(job: Job, meta: InvocationMeta, record: RecordEvent, reason: "failed" | "expired", log: Logger): Promise<void> {
    await this.followup.deadLetter({
      invocationId: job.invocationId, functionName: job.functionName, version: meta.version, reason, status: record.status ?? "error",
      ...(record.error ? { error: record.error } : {}), attempts: record.attempts ?? [], enqueuedAt: job.enqueuedAt, chainDepth: job.chainDepth,
      ...(job.message ? { message: job.message } : {}),
    }, job.event);
    log.warn({ reason, attempts: record.attempts?.length, error: record.error?.code }, "async invocation dead-lettered");
    if (job.asyncConfig?.onFailure) await this.followup.send(job.asyncConfig.onFailure, record, job, log);
  }

  private attemptOf(job: Job, meta: InvocationMeta, status: Attempt["status"], errorCode: Attempt["errorCode"]): Attempt {
    return { attempt: job.attempt, retry: Math.min(job.retry, 2), delivery: job.delivery, agent: this.opts.agentId, startedAt: meta.startedAt, finishedAt: Date.now(), status, ...(errorCode ? { errorCode } : {}) };
  }

  private runningRecord(job: Job, meta: InvocationMeta): RecordEvent {
    return {
      invocationId: job.invocationId,
      functionName: job.functionName,
      phase: "running",
      enqueuedAt: job.enqueuedAt,
      version: meta.version,
      incarnation: job.incarnation,
      traceId: meta.traceId,
      agent: this.opts.agentId,
      startedAt: meta.startedAt,
      attempt: job.attempt,
    };
  }

  /**
   * Stores a record, in a batch with those of the jobs finishing beside it (record-batch.ts), in JetStream or,
   * failing that, in the agent's outbox on disk: when this resolves the record is durable, so the job may be
   * acked (REVIEW C3). Rejects with OutboxWriteError when it is neither (the job is then handed back, not acked).
   */
  private async publishRecord(record: RecordEvent): Promise<void> {
    if (!FUNCTION_NAME_PATTERN.test(record.functionName)) return;
    await this.records.add(record);
  }

  /** A queued or running record, which no ack waits for: a failure to store it is logged (the final one follows). */
  private publishRecordLater(record: RecordEvent, log: Logger): void {
    this.publishRecord(record).catch((err: unknown) => log.error({ err, phase: record.phase }, "an invocation's interim record could not be stored"));
  }
}

/** What an attempt needs of its job's lease: whether another agent may have been given the job. */
interface Lease {
  valid(): boolean;
  expiredForMs(): number;
}

/** A direct call's: it is delivered to this agent only, so nobody can take it over. */
const UNCONTESTED: Lease = { valid: () => true, expiredForMs: () => 0 };

/** A gateway checked its jobs' events; one published straight to JetStream is checked here. */
function eventIsValid(job: Job): boolean {
  return job.fromGateway || job.event.length === 0 || scanJson(job.event, LIMITS.jsonDepth).ok;
}

/**
 * The invocation's child logger, made only when something is logged: a warm call that ends ok logs nothing at
 * info, and a pino child per call was a measurable share of the agent's CPU per invocation.
 */
function lazyLogger(parent: Logger, make: () => Logger): Logger {
  let made: Logger | undefined;
  return new Proxy({} as Logger, {
    get(_target, prop) {
      if (typeof prop === "string" && LEVELS.has(prop) && !parent.isLevelEnabled(prop)) return noop;
      made ??= make();
      const value = Reflect.get(made, prop, made) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(made) : value;
    },
  });
}

const LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);
const noop = () => {};

/** Milliseconds since a performance.now() reading, to the microsecond. */
function elapsedMs(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}
