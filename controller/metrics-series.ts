// Metrics over time from the per-minute rollups (metrics-rollups.ts): per step of the window (calls, failures,
// cold starts, latency percentiles), totals, and for the whole fabric a line per function. A step is a whole
// number of minutes, the rollups' resolution; percentiles come from the rollups' duration histograms.
import type { FunctionActivity, MetricsBucket, MetricsSeries, MetricsTotals } from "../shared/schemas/metrics-series.js";
import { stepFor } from "../shared/schemas/metrics-series.js";
import { scopeOf } from "./invocation-pages.js";
import type { Incarnated, InvocationRecords } from "./invocation-records.js";
import { addSummary, emptySummary, percentile, type OutcomeSummary } from "./metrics.js";
import { inParallel } from "./owned-documents.js";

/** Scopes whose rollups are read at once (each reads its few blocks in parallel too). */
const READ_WIDTH = 8;

/** The window's steps: whole steps, the last one holding `now`. */
export function windowSteps(windowMs: number, now: number): { from: number; stepMs: number; steps: number } {
  const stepMs = stepFor(windowMs);
  const steps = Math.ceil(windowMs / stepMs);
  const end = Math.floor(now / stepMs) * stepMs + stepMs;
  return { from: end - steps * stepMs, stepMs, steps };
}

export interface ScopeMinutes {
  functionName: string;
  /** Minute start (ms) → what finished in it. */
  minutes: Map<number, OutcomeSummary>;
}

const failedOf = (s: OutcomeSummary): number => s.count - s.ok;
const totalsOf = (s: OutcomeSummary): MetricsTotals => ({
  count: s.count,
  ok: s.ok,
  failed: failedOf(s),
  coldStarts: s.coldStarts,
  durationMs: { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) },
});

/** Adds scopes' minutes into the window's steps, totals and per-function lines (pure, for the reader below). */
export function seriesOf(scopes: readonly ScopeMinutes[], w: { from: number; stepMs: number; steps: number }) {
  const steps = Array.from({ length: w.steps }, emptySummary);
  const total = emptySummary();
  const lines = new Map<string, { summary: OutcomeSummary; last: number }>();
  for (const { functionName, minutes } of scopes) {
    for (const [at, summary] of minutes) {
      const i = Math.floor((at - w.from) / w.stepMs);
      if (i < 0 || i >= w.steps || summary.count === 0) continue;
      addSummary(steps[i]!, summary);
      addSummary(total, summary);
      const line = lines.get(functionName) ?? { summary: emptySummary(), last: 0 };
      addSummary(line.summary, summary);
      line.last = Math.max(line.last, at);
      lines.set(functionName, line);
    }
  }
  const buckets: MetricsBucket[] = steps.map((s, i) => ({
    t: w.from + i * w.stepMs,
    count: s.count,
    failed: failedOf(s),
    coldStarts: s.coldStarts,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
  }));
  const functions: FunctionActivity[] = [...lines]
    .map(([functionName, { summary, last }]) => ({
      functionName,
      count: summary.count,
      failed: failedOf(summary),
      p50: percentile(summary, 50),
      p99: percentile(summary, 99),
      lastInvokedAt: new Date(last).toISOString(),
    }))
    .sort((a, b) => b.count - a.count || a.functionName.localeCompare(b.functionName));
  return { buckets, totals: totalsOf(total), functions };
}

/** One function's metrics over time (`name` set), or the whole fabric's: every live incarnation in `scopes`. */
export async function metricsSeries(
  records: InvocationRecords,
  { name, scopes }: { name: string | undefined; scopes: Incarnated[] },
  windowMs: number,
  now = Date.now(),
): Promise<MetricsSeries> {
  const w = windowSteps(windowMs, now);
  const minutes = await inParallel(scopes, READ_WIDTH, async (s) => ({
    functionName: s.functionName,
    minutes: await records.rollups.minutes(scopeOf(s), w.from, now),
  }));
  const { buckets, totals, functions } = seriesOf(minutes, w);
  return {
    ...(name === undefined ? { functions } : { functionName: name }),
    windowMs,
    stepMs: w.stepMs,
    from: w.from,
    totals,
    buckets,
  };
}
