// The pure parts of the controller's metrics: outcome summaries, their histogram, and percentiles from it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  DURATION_PRECISION,
  addOutcome,
  addSummary,
  bucketOf,
  bucketValue,
  emptySummary,
  percentile,
  toFunctionMetrics,
  type Outcome,
} from "../../controller/metrics.js";

const summaryOf = (outcomes: Outcome[]) => {
  const s = emptySummary();
  for (const o of outcomes) addOutcome(s, o);
  return s;
};
const durations = (ds: number[]) => summaryOf(ds.map((durationMs) => ({ status: "ok", durationMs })));

function near(actual: number | null, exact: number): void {
  assert.ok(actual !== null && Math.abs(actual - exact) <= exact * DURATION_PRECISION + 1e-9, `${actual} within 1% of ${exact}`);
}

describe("duration buckets", () => {
  test("every duration is within the precision of its bucket's value", () => {
    for (const d of [0.001, 0.0123, 0.5, 1, 1.7, 42, 999.9, 30_000, 900_000]) near(bucketValue(bucketOf(d)), d);
  });

  test("buckets are ordered like the durations", () => {
    const ds = [0.002, 0.3, 1, 2, 50, 51, 1000];
    const bs = ds.map(bucketOf);
    assert.deepEqual([...bs].sort((a, b) => a - b), bs);
  });
});

describe("percentile (nearest rank over the histogram)", () => {
  test("no durations, no percentile", () => {
    assert.equal(percentile(emptySummary(), 50), null);
  });

  test("one value is every percentile, and never above the exact maximum", () => {
    for (const p of [1, 50, 99, 100]) near(percentile(durations([7]), p), 7);
    assert.ok(percentile(durations([7]), 100)! <= 7);
  });

  test("1..100 gives p itself within the precision", () => {
    const s = durations(Array.from({ length: 100 }, (_, i) => i + 1));
    near(percentile(s, 50), 50);
    near(percentile(s, 95), 95);
    near(percentile(s, 99), 99);
    assert.equal(percentile(s, 100), 100);
    near(percentile(s, 0.1), 1);
  });

  test("small samples round the rank up, never interpolate", () => {
    const s = durations([10, 20, 30, 40]);
    near(percentile(s, 50), 20);
    near(percentile(s, 51), 30);
    near(percentile(s, 99), 40);
  });

  test("a p outside (0, 100] is a bug in the caller", () => {
    assert.throws(() => percentile(durations([1]), 0), RangeError);
    assert.throws(() => percentile(durations([1]), 101), RangeError);
    assert.throws(() => percentile(durations([1]), Number.NaN), RangeError);
  });
});

describe("outcome summaries", () => {
  test("count each outcome and cold starts; mean and max are exact", () => {
    const s = summaryOf([
      { status: "ok", coldStart: true, durationMs: 30 },
      { status: "ok", coldStart: false, durationMs: 10 },
      { status: "error", coldStart: false, durationMs: 20 },
      { status: "timeout", coldStart: true, durationMs: 1000 },
      { status: "killed" },
    ]);
    const m = toFunctionMetrics(s, "fn", 60_000);
    assert.deepEqual({ ...m, durationMs: undefined }, {
      functionName: "fn",
      windowMs: 60_000,
      count: 5,
      ok: 2,
      errors: 1,
      timeouts: 1,
      killed: 1,
      coldStarts: 2,
      durationMs: undefined,
    });
    assert.equal(m.durationMs.mean, 265);
    assert.equal(m.durationMs.max, 1000);
    near(m.durationMs.p50, 20);
    assert.equal(m.durationMs.p99, 1000);
  });

  test("summaries add up to the summary of all their outcomes", () => {
    const a = durations([1, 2, 3]);
    const b = summaryOf([{ status: "error", durationMs: 500, coldStart: true }]);
    const sum = emptySummary();
    addSummary(sum, a);
    addSummary(sum, b);
    assert.deepEqual(sum, summaryOf([...[1, 2, 3].map((d): Outcome => ({ status: "ok", durationMs: d })), { status: "error", durationMs: 500, coldStart: true }]));
  });

  test("no durations: percentiles, mean and max are null", () => {
    assert.deepEqual(toFunctionMetrics(summaryOf([{ status: "killed" }]), "fn", 1000).durationMs, {
      p50: null,
      p95: null,
      p99: null,
      mean: null,
      max: null,
    });
  });

  test("a negative or non-finite duration is counted but not timed", () => {
    const s = summaryOf([{ status: "ok", durationMs: Number.NaN }, { status: "ok", durationMs: -1 }, { status: "ok", durationMs: 4 }]);
    assert.equal(s.count, 3);
    assert.equal(s.timed, 1);
  });
});
