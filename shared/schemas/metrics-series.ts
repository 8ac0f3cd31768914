// Wire shapes of metrics over time: GET /v1/metrics (the whole fabric, with a line per function) and
// GET /v1/functions/{name}/metrics/series (one function). Both come from the per-minute rollups of finished
// invocations (by enqueue time); percentiles are within 1% of the exact value.
import { z } from "zod";
import { FunctionName } from "./function.js";

const Ms = z.number().nullable();

/** One step of the window; `failed` counts invocations that ended in error, timeout or killed. */
export const MetricsBucket = z.object({
  /** Start of the step, ms since the epoch. */
  t: z.number(),
  count: z.number().int(),
  failed: z.number().int(),
  coldStarts: z.number().int(),
  p50: Ms,
  p95: Ms,
  p99: Ms,
});
export type MetricsBucket = z.infer<typeof MetricsBucket>;

export const MetricsTotals = z.object({
  count: z.number().int(),
  ok: z.number().int(),
  failed: z.number().int(),
  coldStarts: z.number().int(),
  durationMs: z.object({ p50: Ms, p95: Ms, p99: Ms }),
});
export type MetricsTotals = z.infer<typeof MetricsTotals>;

/** A function's activity in the window, for the functions table (GET /v1/metrics only). */
export const FunctionActivity = z.object({
  functionName: z.string(),
  count: z.number().int(),
  failed: z.number().int(),
  p50: Ms,
  p99: Ms,
  /** The start of the minute of the newest invocation in the window, ISO 8601; null when it had none. */
  lastInvokedAt: z.string().nullable(),
});
export type FunctionActivity = z.infer<typeof FunctionActivity>;

export const MetricsSeries = z.object({
  /** Present for one function's series. */
  functionName: FunctionName.optional(),
  windowMs: z.number().int(),
  stepMs: z.number().int(),
  /** Start of the first bucket, ms since the epoch. */
  from: z.number(),
  totals: MetricsTotals,
  /** Every step of the window, oldest first (empty steps included, so charts need no gap filling). */
  buckets: z.array(MetricsBucket),
  /** Per function, busiest first (GET /v1/metrics only). */
  functions: z.array(FunctionActivity).optional(),
});
export type MetricsSeries = z.infer<typeof MetricsSeries>;

/** The query string of both routes. */
export const MetricsSeriesQuery = z.object({
  windowMs: z
    .string()
    .regex(/^\d{1,15}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(60_000).max(30 * 24 * 3600_000))
    .optional()
    .describe("the window, up to now, in ms (1 minute to 30 days; default: WEFT_METRICS_WINDOW_MS)"),
});

/** At most this many steps per window: a step is a minute, or longer for long windows. */
export const MAX_METRICS_BUCKETS = 120;

export function stepFor(windowMs: number): number {
  const minute = 60_000;
  return Math.max(minute, Math.ceil(windowMs / MAX_METRICS_BUCKETS / minute) * minute);
}
