// Wire shapes of the async machinery (README "Async semantics", "Dead letters"): a job scheduled for later
// (a retry, or a destination's invocation) on WEFT_RETRIES, and a dead letter on WEFT_DEAD_LETTERS. Both are one
// JSON document with the event spliced in as raw JSON, so an agent can store them through its outbox (which
// carries data only) and the `nats` CLI shows them as they are.
import { z } from "zod";
import { AttemptList, FINAL_STATUSES, InvocationError } from "./schemas/invocation.js";
import { FunctionName } from "./schemas/function.js";
import { TriggerMessage } from "./trigger-message.js";

/** Invocation ids ride in subjects (weft.dead.{fn}.{id}): a token, no dots or wildcards. */
export const InvocationIdToken = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, "must be an invocation id");

/** A job to put on WEFT_JOBS at `dueAt` (the controller's retry scheduler does). */
export const ScheduledJob = z.object({
  invocationId: InvocationIdToken,
  functionName: FunctionName,
  /** Which retry this job is (0: the first try, e.g. of a destination's invocation). */
  retry: z.number().int().min(0),
  /** Earlier attempts, for the final record. */
  attempts: AttemptList,
  dueAt: z.number(),
  enqueuedAt: z.number(),
  version: z.number().int().min(1).optional(),
  incarnation: z.string().max(64).optional(),
  traceparent: z.string().max(256).optional(),
  chainDepth: z.number().int().min(0),
  /** A trigger message's subject and headers, carried to every retry. */
  message: TriggerMessage.optional(),
  event: z.unknown(),
});
export type ScheduledJob = z.infer<typeof ScheduledJob>;

/** Why an invocation was dead-lettered. */
export const DEAD_LETTER_REASONS = ["failed", "expired", "chain-too-deep"] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** A dead letter as stored (times in epoch ms). */
export const DeadLetter = z.object({
  invocationId: InvocationIdToken,
  functionName: FunctionName,
  version: z.number().int().optional(),
  reason: z.enum(DEAD_LETTER_REASONS),
  status: z.enum(FINAL_STATUSES),
  error: InvocationError.optional(),
  attempts: AttemptList,
  enqueuedAt: z.number(),
  deadAt: z.number(),
  chainDepth: z.number().int().min(0),
  /** A trigger message's subject and headers: a re-drive hands them to the handler again. */
  message: TriggerMessage.optional(),
  event: z.unknown(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

/** A dead letter's error keeps the code and the message's first 1 KiB (no stack): it is a summary. */
export function summaryError(e: InvocationError | undefined): InvocationError | undefined {
  return e && { code: e.code, message: e.message.slice(0, 1024), ...(e.type ? { type: e.type.slice(0, 256) } : {}) };
}

/**
 * The document's JSON with the event's bytes spliced in as its last field (not parsed and serialised again):
 * an empty event (a direct JetStream publish with no data) is null.
 */
export function withEvent(fields: object, event: Uint8Array): string {
  const head = JSON.stringify(fields);
  const body = event.length === 0 ? "null" : Buffer.from(event.buffer, event.byteOffset, event.length).toString("utf8");
  return `${head.slice(0, -1)}${head.length > 2 ? "," : ""}"event":${body}}`;
}

/** Parses a stored document; undefined (never a throw) for one that is not of the shape. */
export function parseStored<T extends z.ZodType>(schema: T, data: Uint8Array): z.infer<T> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString("utf8"));
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
