// Moves scheduled jobs (async retries, and invocations a destination starts) from WEFT_RETRIES to WEFT_JOBS when
// they are due. A job not yet due is handed back with a delayed nak: the server holds it and redelivers it at its
// time, so the wait survives a controller restart and costs nothing meanwhile (README "Async semantics").
// Why not nak the job itself on WEFT_JOBS: every nak is a delivery there, and deliveries are what bounds platform
// retries (max deliveries); a retry is a new job whose deliveries start again at 1.
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { parseStored, ScheduledJob } from "../shared/async-jobs.js";
import { HEADERS } from "../shared/headers.js";
import { jobSubject, RETRIES_CONSUMER, RETRIES_STREAM } from "../shared/subjects.js";
import { DurableReader } from "./durable-reader.js";

const RETRY_AFTER_FAILURE_MS = 1000;

export class RetryScheduler {
  private readonly reader: DurableReader;
  readonly stats = { released: 0, refused: 0 };

  constructor(
    private readonly js: JetStreamClient,
    private readonly log: Logger,
  ) {
    const source = { stream: RETRIES_STREAM, consumer: RETRIES_CONSUMER, maxMessages: 256, what: "scheduled jobs" };
    this.reader = new DurableReader(js, source, (m) => this.handle(m), log);
  }

  start(): void {
    this.reader.start();
  }

  stop(): Promise<void> {
    return this.reader.stop();
  }

  private async handle(m: JsMsg): Promise<void> {
    const job = parseStored(ScheduledJob, m.data);
    if (!job) {
      this.stats.refused++;
      this.log.warn({ subject: m.subject, seq: m.seq }, "a scheduled job that is not of the shape; dropped");
      m.term();
      return;
    }
    const wait = job.dueAt - Date.now();
    if (wait > 0) {
      m.nak(wait);
      return;
    }
    try {
      await this.release(job);
      m.ack();
      this.stats.released++;
    } catch (err) {
      this.log.warn({ err, invocationId: job.invocationId }, "releasing a scheduled job failed; will retry");
      m.nak(RETRY_AFTER_FAILURE_MS);
    }
  }

  /** Publishes the job as an agent expects it; its de-duplication id makes a second release a no-op. */
  private async release(job: ScheduledJob): Promise<void> {
    const h = natsHeaders();
    h.set(HEADERS.invocationId, job.invocationId);
    h.set(HEADERS.enqueuedAt, String(job.enqueuedAt));
    if (job.retry > 0) h.set(HEADERS.retry, String(job.retry));
    if (job.attempts.length > 0) h.set(HEADERS.attempts, JSON.stringify(job.attempts));
    if (job.chainDepth > 0) h.set(HEADERS.chainDepth, String(job.chainDepth));
    if (job.version !== undefined) h.set(HEADERS.version, String(job.version));
    if (job.incarnation) h.set(HEADERS.incarnation, job.incarnation);
    if (job.traceparent) h.set(HEADERS.traceparent, job.traceparent);
    if (job.message) h.set(HEADERS.message, JSON.stringify(job.message));
    await this.js.publish(jobSubject(job.functionName), JSON.stringify(job.event ?? null), {
      msgID: `${job.invocationId}.r${job.retry}`,
      headers: h,
      timeout: 5000,
    });
    this.log.debug({ invocationId: job.invocationId, retry: job.retry, lateMs: Date.now() - job.dueAt }, "scheduled job released");
  }
}
