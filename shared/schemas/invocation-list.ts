// Wire shapes of the invocation history across functions (GET /v1/invocations) and of its live stream
// (GET /v1/invocations/live, Server-Sent Events).
import { z } from "zod";
import { LIMITS } from "../limits.js";
import { FunctionName } from "./function.js";
import { InvocationRecord, STATUSES } from "./invocation.js";

/**
 * A position in the newest-first history: `<enqueuedAt ms>_<invocationId>` (what a page's `next` holds), or a
 * time alone (ms since the epoch or ISO 8601) meaning "enqueued before this".
 */
export type HistoryCursor = { at: number; id?: string };

export function parseCursor(raw: string): HistoryCursor | undefined {
  const m = /^(\d{1,15})(?:_(.{1,128}))?$/.exec(raw);
  if (m) return m[2] === undefined ? { at: Number(m[1]) } : { at: Number(m[1]), id: m[2] };
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw)) return undefined;
  const at = Date.parse(raw);
  return Number.isFinite(at) ? { at } : undefined;
}

export const formatCursor = (c: { at: number; id: string }): string => `${c.at}_${c.id}`;

/** A cursor or time as the query string carries it; kept a string (what the document shows), read with parseCursor. */
const cursor = (what: string, withId: boolean) =>
  z
    .string()
    .max(200)
    .refine((raw) => {
      const c = parseCursor(raw);
      return c !== undefined && (withId || c.id === undefined);
    }, `must be ${what}`);

const Status = z.enum(STATUSES);

/** The query string of GET /v1/invocations. */
export const InvocationListQuery = z.object({
  function: FunctionName.optional().describe("only this function's invocations"),
  status: Status.optional().describe("only invocations in this state"),
  limit: z
    .string()
    .regex(/^\d{1,15}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(1).max(LIMITS.listLimit.max))
    .optional()
    .describe(`how many records (default ${LIMITS.listLimit.default})`),
  before: cursor("a time (ISO 8601 or ms since the epoch) or a page's `next` value", true)
    .optional()
    .describe("only invocations enqueued before this: a time (ISO 8601 or ms since the epoch), or the previous page's `next`"),
  since: cursor("a time (ISO 8601 or ms since the epoch)", false)
    .optional()
    .describe("only invocations enqueued at or after this time (ISO 8601 or ms since the epoch)"),
});
export type InvocationListQuery = z.output<typeof InvocationListQuery>;

/** The query string of GET /v1/invocations/live. */
export const InvocationLiveQuery = InvocationListQuery.pick({ function: true, status: true });

/** A page of the history, newest first; `next` is the `before` of the following page, absent on the last. */
export const InvocationPage = z.object({
  invocations: z.array(InvocationRecord),
  next: z.string().optional().describe("pass as `before` for the next page; absent on the last page"),
});
export type InvocationPage = z.infer<typeof InvocationPage>;

/**
 * One `invocation` event of the live stream: an invocation was queued, started or finished. The payloads
 * (event, output, logs) stay out of the stream; GET /v1/invocations/{id} has them.
 */
export const InvocationChange = InvocationRecord.pick({
  invocationId: true,
  functionName: true,
  version: true,
  status: true,
  async: true,
  traceId: true,
  error: true,
  durationMs: true,
  coldStart: true,
  agent: true,
  attempt: true,
  enqueuedAt: true,
  startedAt: true,
  finishedAt: true,
});
export type InvocationChange = z.infer<typeof InvocationChange>;

/** The names of the stream's events: `invocation` (data: InvocationChange) and `lagged` (events were dropped). */
export const FEED_EVENTS = { invocation: "invocation", lagged: "lagged" } as const;
