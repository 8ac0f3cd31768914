// What an agent does after an async invocation's attempt, once async-policy.ts has decided: schedule the next
// attempt, dead-letter the event, and send the record to the function's destinations. Everything that must not
// be lost goes through the record outbox (durable before the job is acked); a subject destination is a core
// publish (at most once: a stream the user binds to the subject stores it).
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { InvocationIdToken, summaryError, withEvent, type DeadLetter, type DeadLetterReason, type ScheduledJob } from "../shared/async-jobs.js";
import { HEADERS } from "../shared/headers.js";
import { LIMITS } from "../shared/limits.js";
import type { Logger } from "../shared/logger.js";
import { queuedRecord, recordMsgId } from "../shared/records.js";
import type { Destination } from "../shared/schemas/function.js";
import type { Attempt, RecordEvent } from "../shared/schemas/invocation.js";
import { deadLetterSubject, recordSubject, retrySubject } from "../shared/subjects.js";
import type { RecordOutbox } from "./record-outbox.js";
import type { TriggerMessage } from "../shared/trigger-message.js";

/** What of a job the follow-ups need. */
export interface FollowedJob {
  invocationId: string;
  functionName: string;
  retry: number;
  enqueuedAt: number;
  incarnation: string | undefined;
  chainDepth: number;
  traceparent: string | undefined;
  message: TriggerMessage | undefined;
  event: Uint8Array;
}

/** Ids that can ride in a subject token; a job published straight to JetStream may carry any header. */
export const followable = (invocationId: string): boolean => InvocationIdToken.safeParse(invocationId).success;

/** The invocation a function destination starts: derived from its source's, so a re-sent one is de-duplicated. */
export const destinationInvocationId = (sourceId: string): string => `${sourceId}-d`;

export class AsyncFollowup {
  constructor(
    private readonly nc: NatsConnection,
    private readonly outbox: RecordOutbox,
  ) {}

  /** The next try, due at `dueAt`, with the attempts so far; the same version and incarnation run it. */
  async scheduleRetry(job: FollowedJob, version: number, attempts: Attempt[], dueAt: number): Promise<void> {
    const next: Omit<ScheduledJob, "event"> = {
      invocationId: job.invocationId,
      functionName: job.functionName,
      retry: job.retry + 1,
      attempts,
      dueAt,
      enqueuedAt: job.enqueuedAt,
      ...(version > 0 ? { version } : {}),
      ...(job.incarnation ? { incarnation: job.incarnation } : {}),
      ...(job.traceparent ? { traceparent: job.traceparent } : {}),
      ...(job.message ? { message: job.message } : {}),
      chainDepth: job.chainDepth,
    };
    await this.outbox.publish(retrySubject(job.functionName), withEvent(next, job.event), `${job.invocationId}.retry.${next.retry}`);
  }

  async deadLetter(letter: Omit<DeadLetter, "event" | "deadAt">, event: Uint8Array): Promise<void> {
    const stored = { ...letter, error: summaryError(letter.error), deadAt: Date.now() };
    await this.outbox.publish(deadLetterSubject(letter.functionName, letter.invocationId), withEvent(stored, event), `dead.${letter.invocationId}`);
  }

  /** Sends the final record to a destination: published to a subject, or as the event of another function. */
  async send(dest: Destination, record: RecordEvent, job: FollowedJob, log: Logger): Promise<void> {
    const body = JSON.stringify(record);
    if ("subject" in dest) {
      const h = natsHeaders();
      h.set(HEADERS.functionName, record.functionName);
      h.set(HEADERS.version, String(record.version ?? 0));
      h.set(HEADERS.invocationId, record.invocationId);
      h.set(HEADERS.status, record.status ?? "");
      // The depth the next hop would have: a trigger on this subject (or on a stream capturing it) starts its
      // invocation there, so a loop through a subject is stopped like one through a function destination.
      h.set(HEADERS.chainDepth, String(job.chainDepth + 1));
      this.nc.publish(dest.subject, body, { headers: h });
      return;
    }
    const invocationId = destinationInvocationId(job.invocationId);
    const depth = job.chainDepth + 1;
    const event = Buffer.from(body);
    if (depth > LIMITS.chainDepth) {
      log.warn({ target: dest.function, depth }, "destination chain too deep: refused and dead-lettered");
      await this.deadLetter({
        invocationId, functionName: dest.function, reason: "chain-too-deep" satisfies DeadLetterReason, status: "error",
        error: { code: "CHAIN_TOO_DEEP", message: `invoking ${dest.function} from ${job.functionName}'s destination would make a chain of ${depth} functions; at most ${LIMITS.chainDepth} are allowed` },
        attempts: [], enqueuedAt: Date.now(), chainDepth: depth,
      }, event);
      return;
    }
    const enqueuedAt = Date.now();
    const queued = queuedRecord({ invocationId, functionName: dest.function, enqueuedAt, async: true, traceId: "", eventText: body });
    await this.outbox.publish(recordSubject(dest.function), JSON.stringify(queued), recordMsgId(invocationId, "queued"));
    const first: Omit<ScheduledJob, "event"> = {
      invocationId, functionName: dest.function, retry: 0, attempts: [], dueAt: enqueuedAt, enqueuedAt, chainDepth: depth,
      ...(job.traceparent ? { traceparent: job.traceparent } : {}),
    };
    await this.outbox.publish(retrySubject(dest.function), withEvent(first, event), `${invocationId}.retry.0`);
  }
}
