// Metrics over time from finished invocation records: per step of the window (calls, failures, cold starts,
// latency percentiles), totals, and for the whole fabric a line per function. Percentiles are exact
// (nearest rank), as in metrics.ts; only the fields needed are read.
import type { FunctionActivity, MetricsBucket, MetricsSeries, MetricsTotals } from "../shared/schemas/metrics-series.js";
import { stepFor } from "../shared/schemas/metrics-series.js";
import type { Incarnated, InvocationDoc, InvocationRecords } from "./invocation-records.js";
import { scopeFilter } from "./invocation-query.js";
import { percentile } from "./metrics.js";

export type SeriesDoc = Pick<InvocationDoc, "functionName" | "status" | "coldStart" | "durationMs" | "enqueuedAt">;

/** Counts and durations of a set of finished invocations. */
class Tally {
  count = 0;
  ok = 0;
  coldStarts = 0;
  readonly durations: number[] = [];

  add(d: SeriesDoc): void {
    this.count++;
    if (d.status === "ok") this.ok++;
    if (d.coldStart) this.coldStarts++;
    if (typeof d.durationMs === "number" && Number.isFinite(d.durationMs)) this.durations.push(d.durationMs);
  }

  get failed(): number {
    return this.count - this.ok;
  }

  percentiles(): { p50: number | null; p95: number | null; p99: number | null } {
    const sorted = Float64Array.from(this.durations).sort();
    return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
  }
}

/** Folds documents into buckets of `stepMs` from `from`, totals, and (optionally) per-function tallies. */
export class SeriesAccumulator {
  private readonly buckets: Tally[];
  private readonly totals = new Tally();
  private readonly perFunction = new Map<string, { tally: Tally; last: number }>();

  constructor(
    readonly from: number,
    readonly stepMs: number,
    steps: number,
    private readonly byFunction: boolean,
  ) {
    this.buckets = Array.from({ length: steps }, () => new Tally());
  }

  add(d: SeriesDoc): void {
    const at = d.enqueuedAt.getTime();
    const i = Math.floor((at - this.from) / this.stepMs);
    if (i < 0 || i >= this.buckets.length) return;
    this.buckets[i]!.add(d);
    this.totals.add(d);
    if (!this.byFunction) return;
    const fn = this.perFunction.get(d.functionName) ?? { tally: new Tally(), last: 0 };
    fn.tally.add(d);
    fn.last = Math.max(fn.last, at);
    this.perFunction.set(d.functionName, fn);
  }

  bucketList(): MetricsBucket[] {
    return this.buckets.map((b, i) => ({
      t: this.from + i * this.stepMs,
      count: b.count,
      failed: b.failed,
      coldStarts: b.coldStarts,
      ...b.percentiles(),
    }));
  }

  totalsOf(): MetricsTotals {
    const t = this.totals;
    return { count: t.count, ok: t.ok, failed: t.failed, coldStarts: t.coldStarts, durationMs: t.percentiles() };
  }

  functions(): FunctionActivity[] {
    return [...this.perFunction]
      .map(([functionName, { tally, last }]) => {
        const { p50, p99 } = tally.percentiles();
        return { functionName, count: tally.count, failed: tally.failed, p50, p99, lastInvokedAt: new Date(last).toISOString() };
      })
      .sort((a, b) => b.count - a.count || a.functionName.localeCompare(b.functionName));
  }
}

/** The window's steps: whole steps, the last one holding `now`. */
export function windowSteps(windowMs: number, now: number): { from: number; stepMs: number; steps: number } {
  const stepMs = stepFor(windowMs);
  const steps = Math.ceil(windowMs / stepMs);
  const end = Math.floor(now / stepMs) * stepMs + stepMs;
  return { from: end - steps * stepMs, stepMs, steps };
}

/**
 * Reads the window's finished invocations (newest first, at most `maxRecords`) of the live incarnations in
 * `scopes`: one function's (`name` set) or every live function's.
 */
export async function metricsSeries(
  records: InvocationRecords,
  { name, scopes }: { name: string | undefined; scopes: Incarnated[] },
  windowMs: number,
  maxRecords: number,
  now = Date.now(),
): Promise<MetricsSeries> {
  const { from, stepMs, steps } = windowSteps(windowMs, now);
  const acc = new SeriesAccumulator(from, stepMs, steps, name === undefined);
  const read = scopes.length === 0 ? { count: 0, truncated: false } : await readInto(acc, records, scopes, from, maxRecords);
  return {
    ...(name === undefined ? { functions: acc.functions() } : { functionName: name }),
    windowMs,
    stepMs,
    from,
    totals: acc.totalsOf(),
    buckets: acc.bucketList(),
    truncated: read.truncated,
  };
}

async function readInto(acc: SeriesAccumulator, records: InvocationRecords, scopes: Incarnated[], from: number, maxRecords: number) {
  const cursor = records.finals
    .find(
      { $and: [scopeFilter(scopes), { enqueuedAt: { $gte: new Date(from) } }] },
      { projection: { _id: 0, functionName: 1, status: 1, coldStart: 1, durationMs: 1, enqueuedAt: 1 } },
    )
    .sort({ enqueuedAt: -1 })
    .limit(maxRecords + 1);
  let count = 0;
  for await (const doc of cursor) {
    if (++count > maxRecords) break;
    acc.add(doc as SeriesDoc);
  }
  return { count, truncated: count > maxRecords };
}
