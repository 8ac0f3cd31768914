// The dead-letter API's shapes (README "Dead letters"): what GET /v1/functions/{name}/dead-letters answers, and the
// bodies and answers of redrive and purge. Stored dead letters are shared/async-jobs.ts's DeadLetter.
import { z } from "zod";
import { DEAD_LETTER_REASONS, InvocationIdToken } from "../async-jobs.js";
import { TriggerMessage } from "../trigger-message.js";
import { LIMITS } from "../limits.js";
import { Attempt, FINAL_STATUSES, InvocationError } from "./invocation.js";

const isoTime = z.string().describe("ISO 8601 time");

export const DeadLetterView = z.object({
  id: InvocationIdToken.describe("the dead letter's id: the invocation id of the invocation that failed"),
  seq: z.number().int().describe("its sequence in the WEFT_DEAD_LETTERS stream (pass as `after` to page on)"),
  functionName: z.string(),
  version: z.number().int().optional(),
  reason: z.enum(DEAD_LETTER_REASONS).describe("failed: after its retries; expired: older than async.maxEventAgeMs; chain-too-deep: a destination chain was too long"),
  status: z.enum(FINAL_STATUSES),
  error: InvocationError.optional(),
  attempts: z.array(Attempt.omit({ startedAt: true, finishedAt: true }).extend({ startedAt: isoTime, finishedAt: isoTime })),
  enqueuedAt: isoTime,
  deadAt: isoTime,
  chainDepth: z.number().int(),
  message: TriggerMessage.optional().describe("set when a subject or stream trigger's message started the invocation: its subject and headers, handed to the handler again on a re-drive"),
  event: z.unknown().describe("the event, as it was sent"),
});
export type DeadLetterView = z.infer<typeof DeadLetterView>;

const wholeNumber = (max: number) => z.string().regex(/^\d{1,15}$/, "must be a whole number").transform(Number).pipe(z.number().int().min(0).max(max));

/** The query of GET …/dead-letters (and the fields of gRPC ListDeadLettersRequest besides the name). */
export const ListDeadLettersQuery = z.object({
  limit: wholeNumber(LIMITS.listLimit.max).pipe(z.number().min(1)).optional().describe(`how many (default ${LIMITS.listLimit.default}, at most ${LIMITS.listLimit.max})`),
  after: wholeNumber(Number.MAX_SAFE_INTEGER).optional().describe("the `next` of the previous page"),
  id: InvocationIdToken.optional().describe("inspect this one dead letter (the failed invocation's id): a page of it alone, 404 if there is none"),
});

export const DeadLetterPage = z.object({
  deadLetters: z.array(DeadLetterView),
  next: z.number().int().optional().describe("pass as `after` for the next page; absent on the last page"),
});

export const RedriveRequest = z.strictObject({
  id: InvocationIdToken.optional().describe("the dead letter to re-drive; unset with all: true for every one"),
  all: z.boolean().optional(),
}).refine((r) => (r.id !== undefined) !== (r.all === true), { message: "give either id or all: true", path: ["id"] });

export const RedriveResult = z.object({
  redriven: z.array(z.object({ id: z.string().describe("the dead letter"), invocationId: z.string().describe("the new async invocation of its event") })),
});

export const PurgeResult = z.object({ purged: z.number().int() });
