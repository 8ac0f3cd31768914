// What an agent does after an async invocation's attempt, once async-policy.ts has decided: schedule the next
// attempt, dead-letter the event, and send the record to the function's destinations. Everything that must not
// be lost goes through the record outbox (durable before the job is acked); a subject destination is a core
// publish (at most once: a stream the user binds to the subject stores it).
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { InvocationIdToken, withEvent, type DeadLetter, type ScheduledJob } from "../shared/async-jobs.js";
import { deadLetterPublication, destinationPublications, type Publication } from "../shared/destinations.js";
import type { Logger } from "../shared/logger.js";
import type { Destination } from "../shared/schemas/function.js";
import type { Attempt, RecordEvent } from "../shared/schemas/invocation.js";
import { retrySubject } from "../shared/subjects.js";
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

export { destinationInvocationId } from "../shared/destinations.js";

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
    await this.send1(deadLetterPublication(letter, event));
  }

  /** Sends the final record to a destination: published to a subject, or as the event of another function. */
  async send(dest: Destination, record: RecordEvent, job: FollowedJob, log: Logger): Promise<void> {
    for (const p of destinationPublications(dest, record, job)) {
      if (!p.core && p.msgId.startsWith("dead.")) log.warn({ target: "function" in dest ? dest.function : undefined }, "destination chain too deep: refused and dead-lettered");
      await this.send1(p);
    }
  }

  private async send1(p: Publication): Promise<void> {
    if (!p.core) return this.outbox.publish(p.subject, p.data, p.msgId);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(p.headers)) h.set(k, String(v));
    this.nc.publish(p.subject, p.data, { headers: h });
  }
}
