// Ends jobs whose deliveries are all used up: every agent that held one died or stalled, so no living
// agent will ever write its outcome (issue 7, "every delivery killed"). JetStream says so with a
// max-deliveries advisory, which WEFT_JOB_ADVISORIES keeps until this reaper has handled it, even while no
// controller runs. For each: the final record killed / PLATFORM_ERROR, a reply to a synchronous caller still
// waiting, for an async one a dead letter and its onFailure destination, and the job removed from WEFT_JOBS (a work
// queue keeps such a message otherwise).
import { jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { destinationPublications, type Publication } from "../shared/destinations.js";
import { parseTriggerMessage } from "../shared/trigger-message.js";
import type { Logger } from "pino";
import { z } from "zod";
import { HEADERS } from "../shared/headers.js";
import { directJobId, recordMsgId } from "../shared/records.js";
import { AttemptList, type Attempt, type InvocationResult, type RecordEvent } from "../shared/schemas/invocation.js";
import { InvocationIdToken, summaryError, withEvent } from "../shared/async-jobs.js";
import { deadLetterSubject, latestKey, versionKey, JOBS_STREAM, JOBS_SUBJECT_PREFIX, JOB_ADVISORIES_CONSUMER, JOB_ADVISORIES_STREAM, recordSubject } from "../shared/subjects.js";
import { FUNCTION_NAME_PATTERN, StoredDefinition } from "../shared/schemas/function.js";
import { DurableReader } from "./durable-reader.js";

/** The fields of io.nats.jetstream.advisory.v1.max_deliver this reaper uses. */
const MaxDeliveriesAdvisory = z.object({
  stream: z.string(),
  consumer: z.string(),
  stream_seq: z.number().int().positive(),
  deliveries: z.number().int().positive(),
});

const NO_MESSAGE = 10037;
const REAPER_AGENT = "controller";

export class JobReaper {
  private readonly reader: DurableReader;
  private jsm: JetStreamManager | undefined;
  readonly stats = { ended: 0, alreadyGone: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly log: Logger,
    /** The functions bucket: the version's async.onFailure is read there. Without it no destination is sent. */
    private readonly definitions?: () => Promise<KV>,
  ) {
    const source = { stream: JOB_ADVISORIES_STREAM, consumer: JOB_ADVISORIES_CONSUMER, maxMessages: 64, what: "job advisories" };
    this.reader = new DurableReader(js, source, async (m) => this.handle((this.jsm ??= await jetstreamManager(this.nc)), m), log);
  }

  start(): void {
    this.reader.start();
  }

  stop(): Promise<void> {
    return this.reader.stop();
  }

  private async handle(jsm: JetStreamManager, m: JsMsg): Promise<void> {
    const parsed = MaxDeliveriesAdvisory.safeParse(safeJson(m.data));
    if (!parsed.success || parsed.data.stream !== JOBS_STREAM) {
      this.log.warn({ subject: m.subject }, "an advisory this reaper does not understand; dropped");
      m.term();
      return;
    }
    try {
      await this.end(jsm, parsed.data.stream_seq, parsed.data.deliveries);
      m.ack();
    } catch (err) {
      this.log.warn({ err, seq: parsed.data.stream_seq }, "ending an exhausted job failed; will retry");
      m.nak(2000);
    }
  }

  private async end(jsm: JetStreamManager, seq: number, deliveries: number): Promise<void> {
    let job;
    try {
      job = await jsm.streams.getMessage(JOBS_STREAM, { seq });
    } catch (err) {
      if ((err as { code?: number }).code === NO_MESSAGE || /no message found/i.test(String((err as Error).message))) {
        this.stats.alreadyGone++; // acked after all, or ended already by an earlier pass
        return;
      }
      throw err;
    }
    if (!job) {
      this.stats.alreadyGone++;
      return;
    }
    const h = job.header;
    const functionName = job.subject.slice(JOBS_SUBJECT_PREFIX.length + 1);
    const invocationId = h?.get(HEADERS.invocationId) || directJobId(seq, job.time.getTime());
    const version = Number(h?.get(HEADERS.version) || 0) || 0;
    // Numbered as the agents number attempts: the earlier tries' attempts, then this job's deliveries.
    const earlier = earlierAttempts(h?.get(HEADERS.attempts));
    const attempt = (earlier.at(-1)?.attempt ?? 0) + deliveries;
    const retry = Math.min(2, Math.max(0, Number(h?.get(HEADERS.retry) || 0) || 0));
    const replyTo = h?.get(HEADERS.replyTo);
    const triggerMessage = parseTriggerMessage(h?.get(HEADERS.message));
    const enqueuedAt = Number(h?.get(HEADERS.enqueuedAt)) || job.time.getTime();
    const attempts: Attempt[] = [
      ...earlier,
      { attempt, retry, delivery: deliveries, agent: REAPER_AGENT, startedAt: Date.now(), finishedAt: Date.now(), status: "killed", errorCode: "PLATFORM_ERROR" },
    ];
    const message = `every delivery of the invocation failed (${deliveries} attempts; the agents holding it stopped or stalled)`;
    const record: RecordEvent = {
      invocationId,
      functionName,
      phase: "final",
      enqueuedAt,
      ...(version ? { version } : {}),
      ...(h?.get(HEADERS.incarnation) ? { incarnation: h.get(HEADERS.incarnation) } : {}),
      agent: REAPER_AGENT,
      attempt,
      attempts,
      status: "killed",
      error: { code: "PLATFORM_ERROR", message },
      coldStart: false,
      durationMs: 0,
      logs: "",
      logsTruncated: false,
      finishedAt: Date.now(),
    };
    if (FUNCTION_NAME_PATTERN.test(functionName)) {
      // The same de-duplication id an agent's final record for that attempt would have: one of them is kept.
      await this.js.publish(recordSubject(functionName), JSON.stringify(record), { msgID: recordMsgId(invocationId, "final", attempt) });
      // An async invocation the platform gave up on is a failed one: its event is dead-lettered for a re-drive.
      if (!replyTo && InvocationIdToken.safeParse(invocationId).success) {
        const letter = {
          invocationId, functionName, ...(version ? { version } : {}), reason: "failed", status: "killed", error: summaryError(record.error),
          attempts, enqueuedAt, deadAt: Date.now(), chainDepth: Number(h?.get(HEADERS.chainDepth) || 0) || 0,
          ...(triggerMessage ? { message: triggerMessage } : {}),
        };
        await this.js.publish(deadLetterSubject(functionName, invocationId), withEvent(letter, job.data), { msgID: `dead.${invocationId}` });
        // ...and, like any async invocation that failed for good, its record goes to the version's onFailure.
        const onFailure = (await this.definition(functionName, version, h?.get(HEADERS.incarnation)))?.async?.onFailure;
        const src = { invocationId, functionName, chainDepth: letter.chainDepth, traceparent: h?.get(HEADERS.traceparent) || undefined };
        if (onFailure) for (const p of destinationPublications(onFailure, record, src)) await this.send(p);
      }
    }
    if (replyTo) {
      const result: InvocationResult = {
        invocationId, functionName, version, status: "killed", error: record.error, durationMs: 0, coldStart: false, logs: "", agent: REAPER_AGENT,
      };
      this.nc.publish(replyTo, JSON.stringify(result));
    }
    await jsm.streams.deleteMessage(JOBS_STREAM, seq, false).catch((err: Error) => {
      if (!/no message found/i.test(err.message)) throw err;
    });
    this.stats.ended++;
    this.log.warn({ invocationId, fn: functionName, deliveries }, "ended an invocation whose every delivery failed");
  }

  /** The version the job ran (the latest for a job published without one); undefined if it is gone or unreadable. */
  private async definition(name: string, version: number, incarnation: string | undefined): Promise<StoredDefinition | undefined> {
    if (!this.definitions) return undefined;
    const kv = await this.definitions();
    const entry = await kv.get(version && incarnation ? versionKey(name, incarnation, version) : latestKey(name));
    if (!entry || entry.operation !== "PUT") return undefined;
    const parsed = StoredDefinition.safeParse(safeJson(entry.value));
    return parsed.success ? parsed.data : undefined;
  }

  /** A stored publication goes to JetStream (de-duplicated: a second pass after a failure sends it once). */
  private async send(p: Publication): Promise<void> {
    if (!p.core) {
      await this.js.publish(p.subject, p.data, { msgID: p.msgId });
      return;
    }
    const h = natsHeaders();
    for (const [k, v] of Object.entries(p.headers)) h.set(k, String(v));
    this.nc.publish(p.subject, p.data, { headers: h });
  }
}


function earlierAttempts(text: string | undefined): Attempt[] {
  if (!text) return [];
  const parsed = AttemptList.safeParse(safeJson(new TextEncoder().encode(text)));
  return parsed.success ? parsed.data.slice(0, 7) : [];
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
