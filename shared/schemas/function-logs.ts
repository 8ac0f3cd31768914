// Wire shapes of a function's log lines (GET /v1/functions/{name}/logs, and its follow stream): each line of an
// invocation's logs with the invocation's id and the time it finished.
import { z } from "zod";
import { FINAL_STATUSES } from "./invocation.js";

/** Lines one answer carries: the newest `default` unless `limit` asks for more. */
export const LOG_LINES = { default: 100, max: 1000 } as const;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** How far back `since` may reach as a duration: the records are kept about this long. */
export const MAX_SINCE_MS = 30 * UNIT_MS.d;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** `since` as the query carries it: a duration back from now (90s, 10m, 1h, 2d) or an RFC 3339 time; ms since the epoch. */
export function parseSince(raw: string, now: number): number | undefined {
  const d = /^(\d{1,9})(ms|s|m|h|d)$/.exec(raw);
  if (d) {
    const ms = Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS];
    return ms <= MAX_SINCE_MS ? now - ms : undefined;
  }
  if (!RFC3339.test(raw)) return undefined;
  const at = Date.parse(raw.replace(" ", "T"));
  return Number.isFinite(at) ? at : undefined;
}

/** The query string of GET /v1/functions/{name}/logs. */
export const LogsQuery = z.object({
  since: z
    .string()
    .max(64)
    .refine((raw) => parseSince(raw, Date.now()) !== undefined, "must be a duration (90s, 10m, 1h, 2d; at most 30d) or an RFC 3339 time")
    .optional()
    .describe("only invocations enqueued since: a duration back from now (90s, 10m, 1h, 2d) or an RFC 3339 time (2026-12-01T10:00:00Z)"),
  status: z.enum(FINAL_STATUSES, "must be one of ok, error, timeout, killed").optional().describe("only invocations that ended so"),
  limit: z
    .string()
    .regex(/^\d{1,9}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(1, "must be at least 1").max(LOG_LINES.max, `must be at most ${LOG_LINES.max}`))
    .optional()
    .describe(`the newest lines to return (default ${LOG_LINES.default}); not with follow`),
  follow: z
    .enum(["", "true", "1", "false", "0"], "must be true or false")
    .transform((v) => v === "" || v === "true" || v === "1")
    .pipe(z.boolean())
    .optional()
    .describe("stream each new invocation's lines as it finishes (Server-Sent Events) instead of answering the recent ones"),
});
export type LogsQuery = z.output<typeof LogsQuery>;

/** One line of an invocation's logs (stdout and stderr as the handler wrote them), without its newline. */
export const LogLine = z.object({
  time: z.string().describe("when the invocation finished (ISO 8601): lines carry no time of their own"),
  invocationId: z.string(),
  version: z.number().int().optional(),
  status: z.enum(FINAL_STATUSES).describe("how the invocation ended"),
  line: z.string(),
});
export type LogLine = z.infer<typeof LogLine>;

/** The answer of GET /v1/functions/{name}/logs, and the data of each `logs` event of its follow stream: oldest first. */
export const LogPage = z.object({
  lines: z.array(LogLine),
});
export type LogPage = z.infer<typeof LogPage>;

/** The follow stream's events: `logs` (data: LogPage, one invocation's lines) and `lagged` (some were dropped). */
export const LOG_EVENTS = { logs: "logs", lagged: "lagged" } as const;

/** An ended invocation's log lines; the empty line a trailing newline leaves is not one. */
export function linesOf(r: { invocationId: string; version?: number | undefined; status: (typeof FINAL_STATUSES)[number]; logs?: string | undefined; finishedAt: string }): LogLine[] {
  if (!r.logs) return [];
  const text = r.logs.endsWith("\n") ? r.logs.slice(0, -1) : r.logs;
  return text.split("\n").map((line) => ({
    time: r.finishedAt,
    invocationId: r.invocationId,
    ...(r.version !== undefined ? { version: r.version } : {}),
    status: r.status,
    line,
  }));
}
