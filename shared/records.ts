// Building the record phases more than one component publishes, and their de-duplication ids.
import { cutUtf8, LIMITS } from "./limits.js";
import type { RecordEvent } from "./schemas/invocation.js";

/** The functionName of ad-hoc code's records (kind execute): not a valid function name, so it names no function. */
export const EXECUTE_RECORD_NAME = "_execute";

/** JetStream de-duplication id of one phase of one attempt: a republished phase is stored once. */
export function recordMsgId(invocationId: string, phase: RecordEvent["phase"], attempt = 0): string {
  return `${invocationId}.${phase}.${attempt}`;
}

/** The queued phase: it carries the event (cut at LIMITS.recordPayloadBytes). */
export function queuedRecord(q: {
  invocationId: string;
  functionName: string;
  enqueuedAt: number;
  async: boolean;
  traceId: string;
  eventText: string;
  version?: number;
  incarnation?: string;
}): RecordEvent {
  const cut = cutUtf8(q.eventText, LIMITS.recordPayloadBytes);
  return {
    invocationId: q.invocationId,
    functionName: q.functionName,
    phase: "queued",
    enqueuedAt: q.enqueuedAt,
    async: q.async,
    traceId: q.traceId,
    event: cut.text,
    ...(q.version === undefined ? {} : { version: q.version }),
    ...(q.incarnation === undefined ? {} : { incarnation: q.incarnation }),
    ...(cut.truncated ? { eventTruncated: true } : {}),
  };
}

/**
 * The invocation id of a job published straight to JetStream (no Weft-Invocation-Id header): the stream
 * sequence and the time it was stored, so it is the same on every delivery and never repeats, even after the
 * stream is re-created and sequences restart (REVIEW C8).
 */
export function directJobId(streamSeq: number, storedAtMs: number): string {
  return `js-${streamSeq}-${Math.floor(storedAtMs).toString(36)}`;
}

/**
 * The records one WEFT_RECORDS message carries, parsed once: an agent's batch (a JSON array, on
 * weft.records._batch) or a single record (from a gateway or the controller). Not JSON: none. Unvalidated.
 */
export function recordsIn(data: Uint8Array): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8"));
  } catch {
    return [];
  }
  return Array.isArray(value) ? value : [value];
}
