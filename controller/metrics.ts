// Per-function metrics computed from finished invocation records in a time window.
// Only the needed fields are read (status, coldStart, durationMs); percentiles are exact (nearest rank).
import type { FunctionMetrics } from "../shared/schemas/invocation.js";
import type { Incarnated, InvocationRecords, OutcomeDoc } from "./invocation-records.js";

/** Nearest-rank percentile of an ascending array; null when it is empty. p in (0, 100]. */
export function percentile(sortedAscending: ArrayLike<number>, p: number): number | null {
  const n = sortedAscending.length;
  if (n === 0) return null;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * n);
  return sortedAscending[Math.min(n, Math.max(1, rank)) - 1]!;
}

/** Folds finished invocations into counts and durations; the result is FunctionMetrics without name and window. */
export class MetricsAccumulator {
  count = 0;
  ok = 0;
  errors = 0;
  timeouts = 0;
  killed = 0;
  coldStarts = 0;
  private durations: number[] = [];

  add(outcome: OutcomeDoc): void {
    this.count++;
    if (outcome.status === "ok") this.ok++;
    else if (outcome.status === "error") this.errors++;
    else if (outcome.status === "timeout") this.timeouts++;
    else if (outcome.status === "killed") this.killed++;
    if (outcome.coldStart) this.coldStarts++;
    if (typeof outcome.durationMs === "number" && Number.isFinite(outcome.durationMs)) this.durations.push(outcome.durationMs);
  }

  result(functionName: string, windowMs: number): FunctionMetrics {
    const sorted = Float64Array.from(this.durations).sort();
    let sum = 0;
    for (const d of sorted) sum += d;
    const n = sorted.length;
    return {
      functionName,
      windowMs,
      count: this.count,
      ok: this.ok,
      errors: this.errors,
      timeouts: this.timeouts,
      killed: this.killed,
      coldStarts: this.coldStarts,
      durationMs: {
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
        mean: n ? round3(sum / n) : null,
        max: n ? sorted[n - 1]! : null,
      },
    };
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Reads the window's finished invocations (newest first, at most `maxRecords`) and summarises them. */
export async function functionMetrics(
  records: InvocationRecords,
  fn: Incarnated,
  windowMs: number,
  maxRecords: number,
  now = Date.now(),
): Promise<FunctionMetrics> {
  const acc = new MetricsAccumulator();
  for await (const outcome of records.outcomesSince(fn, new Date(now - windowMs), maxRecords)) acc.add(outcome);
  return acc.result(fn.functionName, windowMs);
}
