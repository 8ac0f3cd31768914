// Where an async invocation's final record goes when it ends (README "Async semantics", destinations): the messages
// to publish, as plain data, so an agent (through its outbox) and the controller's job reaper (straight to
// JetStream) send exactly the same ones. A function destination past the chain limit is dead-lettered instead.
import { summaryError, withEvent, type DeadLetter, type DeadLetterReason, type ScheduledJob } from "./async-jobs.js";
import { HEADERS } from "./headers.js";
import { LIMITS } from "./limits.js";
import { queuedRecord, recordMsgId } from "./records.js";
import type { Destination } from "./schemas/function.js";
import type { RecordEvent } from "./schemas/invocation.js";
import { deadLetterSubject, recordSubject, retrySubject } from "./subjects.js";

/** One message to send: `core` ones are a plain NATS publish (at most once); the others are stored, de-duplicated by `msgId`. */
export type Publication =
  | { core: true; subject: string; data: string; headers: Record<string, string> }
  | { core: false; subject: string; data: string; msgId: string };

/** What of the ended invocation a destination needs. */
export interface DestinationSource {
  invocationId: string;
  functionName: string;
  chainDepth: number;
  traceparent: string | undefined;
}

/** The invocation a function destination starts: derived from its source's, so a re-sent one is de-duplicated. */
export const destinationInvocationId = (sourceId: string): string => `${sourceId}-d`;

/** The dead letter's message: the letter's JSON with the event spliced in, under the subject and id it is kept by. */
export function deadLetterPublication(letter: Omit<DeadLetter, "event" | "deadAt">, event: Uint8Array, now = Date.now()): Publication {
  const stored = { ...letter, error: summaryError(letter.error), deadAt: now };
  return { core: false, subject: deadLetterSubject(letter.functionName, letter.invocationId), data: withEvent(stored, event), msgId: `dead.${letter.invocationId}` };
}

/** The messages that send `record` to `dest`. */
export function destinationPublications(dest: Destination, record: RecordEvent, src: DestinationSource, now = Date.now()): Publication[] {
  const body = JSON.stringify(record);
  if ("subject" in dest) {
    return [{
      core: true,
      subject: dest.subject,
      data: body,
      headers: {
        [HEADERS.functionName]: record.functionName,
        [HEADERS.version]: String(record.version ?? 0),
        [HEADERS.invocationId]: record.invocationId,
        [HEADERS.status]: record.status ?? "",
        // The depth the next hop would have: a trigger on this subject (or on a stream capturing it) starts its
        // invocation there, so a loop through a subject is stopped like one through a function destination.
        [HEADERS.chainDepth]: String(src.chainDepth + 1),
      },
    }];
  }
  const invocationId = destinationInvocationId(src.invocationId);
  const depth = src.chainDepth + 1;
  const event = Buffer.from(body);
  if (depth > LIMITS.chainDepth) {
    return [deadLetterPublication({
      invocationId, functionName: dest.function, reason: "chain-too-deep" satisfies DeadLetterReason, status: "error",
      error: { code: "CHAIN_TOO_DEEP", message: `invoking ${dest.function} from ${src.functionName}'s destination would make a chain of ${depth} functions; at most ${LIMITS.chainDepth} are allowed` },
      attempts: [], enqueuedAt: now, chainDepth: depth,
    }, event, now)];
  }
  const queued = queuedRecord({ invocationId, functionName: dest.function, enqueuedAt: now, async: true, traceId: "", eventText: body });
  const first: Omit<ScheduledJob, "event"> = {
    invocationId, functionName: dest.function, retry: 0, attempts: [], dueAt: now, enqueuedAt: now, chainDepth: depth,
    ...(src.traceparent ? { traceparent: src.traceparent } : {}),
  };
  return [
    { core: false, subject: recordSubject(dest.function), data: JSON.stringify(queued), msgId: recordMsgId(invocationId, "queued") },
    { core: false, subject: retrySubject(dest.function), data: withEvent(first, event), msgId: `${invocationId}.retry.0` },
  ];
}
