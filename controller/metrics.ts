// Per-function metrics from outcome summaries: counts, cold starts, and durations kept as a log-scale histogram,
// so a minute of a million calls summarises in a few hundred bytes and summaries add up (minutes into windows).
// Percentiles are the nearest rank over the histogram: within DURATION_PRECISION of the exact value, never
// above the exact maximum (which is kept, as are the sum and so the mean).
import type { FinalStatus, FunctionMetrics } from "../shared/schemas/invocation.js";

/** Relative error of a reported percentile. */
export const DURATION_PRECISION = 0.01;
const GAMMA = (1 + DURATION_PRECISION) / (1 - DURATION_PRECISION);
const LOG_GAMMA = Math.log(GAMMA);
/** Durations at or below this (ms) share the lowest bucket. */
const MIN_TRACKED_MS = 0.001;

/** The fields metrics read from a finished invocation. */
export interface Outcome {
  status?: FinalStatus;
  coldStart?: boolean;
  durationMs?: number;
}

/** Counts and durations of some finished invocations (a minute of one function, or a window). */
export interface OutcomeSummary {
  count: number;
  ok: number;
  errors: number;
  timeouts: number;
  killed: number;
  coldStarts: number;
  /** Durations: how many, their sum and maximum, and how many fell in each bucket (see bucketOf). */
  timed: number;
  sum: number;
  max: number | null;
  buckets: Record<string, number>;
}

export const emptySummary = (): OutcomeSummary => ({
  count: 0,
  ok: 0,
  errors: 0,
  timeouts: 0,
  killed: 0,
  coldStarts: 0,
  timed: 0,
  sum: 0,
  max: null,
  buckets: {},
});

/** The bucket of a duration: bucket i holds (GAMMA^(i-1), GAMMA^i]. */
export function bucketOf(ms: number): number {
  return Math.ceil(Math.log(Math.max(ms, MIN_TRACKED_MS)) / LOG_GAMMA);
}

/** The value reported for a bucket: within DURATION_PRECISION of every duration it holds. */
export function bucketValue(i: number): number {
  return (2 * GAMMA ** i) / (GAMMA + 1);
}

export function addOutcome(s: OutcomeSummary, o: Outcome): void {
  s.count++;
  if (o.status === "ok") s.ok++;
  else if (o.status === "error") s.errors++;
  else if (o.status === "timeout") s.timeouts++;
  else if (o.status === "killed") s.killed++;
  if (o.coldStart) s.coldStarts++;
  const d = o.durationMs;
  if (typeof d !== "number" || !Number.isFinite(d) || d < 0) return;
  s.timed++;
  s.sum += d;
  s.max = s.max === null ? d : Math.max(s.max, d);
  const b = String(bucketOf(d));
  s.buckets[b] = (s.buckets[b] ?? 0) + 1;
}

export function addSummary(into: OutcomeSummary, from: OutcomeSummary): void {
  into.count += from.count;
  into.ok += from.ok;
  into.errors += from.errors;
  into.timeouts += from.timeouts;
  into.killed += from.killed;
  into.coldStarts += from.coldStarts;
  into.timed += from.timed;
  into.sum += from.sum;
  if (from.max !== null) into.max = into.max === null ? from.max : Math.max(into.max, from.max);
  for (const [b, n] of Object.entries(from.buckets)) into.buckets[b] = (into.buckets[b] ?? 0) + n;
}

/** Nearest-rank percentile over the histogram; null when no duration was recorded. p in (0, 100]. */
export function percentile(s: OutcomeSummary, p: number): number | null {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  if (s.timed === 0 || s.max === null) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * s.timed));
  const ordered = Object.entries(s.buckets)
    .map(([b, n]) => [Number(b), n] as const)
    .sort((a, b) => a[0] - b[0]);
  let seen = 0;
  for (const [b, n] of ordered) {
    seen += n;
    if (seen >= rank) return round3(Math.min(bucketValue(b), s.max));
  }
  return s.max;
}

export function toFunctionMetrics(s: OutcomeSummary, functionName: string, windowMs: number): FunctionMetrics {
  return {
    functionName,
    windowMs,
    count: s.count,
    ok: s.ok,
    errors: s.errors,
    timeouts: s.timeouts,
    killed: s.killed,
    coldStarts: s.coldStarts,
    durationMs: {
      p50: percentile(s, 50),
      p95: percentile(s, 95),
      p99: percentile(s, 99),
      mean: s.timed ? round3(s.sum / s.timed) : null,
      max: s.max,
    },
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
