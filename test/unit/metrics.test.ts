// The pure parts of the controller's metrics: nearest-rank percentiles and the outcome accumulator.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MetricsAccumulator, percentile } from "../../controller/metrics.js";

describe("percentile (nearest rank)", () => {
  test("empty input has no percentile", () => {
    assert.equal(percentile([], 50), null);
  });

  test("one value is every percentile", () => {
    for (const p of [1, 50, 99, 100]) assert.equal(percentile([7], p), 7);
  });

  test("1..100 gives p itself", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile(xs, 95), 95);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile(xs, 100), 100);
    assert.equal(percentile(xs, 0.1), 1);
  });

  test("small samples round the rank up, never interpolate", () => {
    const xs = [10, 20, 30, 40];
    assert.equal(percentile(xs, 50), 20);
    assert.equal(percentile(xs, 51), 30);
    assert.equal(percentile(xs, 99), 40);
    assert.equal(percentile(Float64Array.from([1.5, 2.5, 3.5]), 50), 2.5);
  });

  test("a p outside (0, 100] is a bug in the caller", () => {
    assert.throws(() => percentile([1], 0), RangeError);
    assert.throws(() => percentile([1], 101), RangeError);
    assert.throws(() => percentile([1], Number.NaN), RangeError);
  });
});

describe("MetricsAccumulator", () => {
  test("counts each outcome, cold starts, and summarises durations", () => {
    const acc = new MetricsAccumulator();
    acc.add({ status: "ok", coldStart: true, durationMs: 30 });
    acc.add({ status: "ok", coldStart: false, durationMs: 10 });
    acc.add({ status: "error", coldStart: false, durationMs: 20 });
    acc.add({ status: "timeout", coldStart: true, durationMs: 1000 });
    acc.add({ status: "killed" });
    assert.deepEqual(acc.result("fn", 60_000), {
      functionName: "fn",
      windowMs: 60_000,
      count: 5,
      ok: 2,
      errors: 1,
      timeouts: 1,
      killed: 1,
      coldStarts: 2,
      durationMs: { p50: 20, p95: 1000, p99: 1000, mean: 265, max: 1000 },
    });
  });

  test("durations sort numerically, not as text", () => {
    const acc = new MetricsAccumulator();
    for (const d of [100, 9, 20]) acc.add({ status: "ok", durationMs: d });
    const m = acc.result("fn", 1000);
    assert.equal(m.durationMs.p50, 20);
    assert.equal(m.durationMs.max, 100);
  });

  test("no records: zero counts and null durations", () => {
    assert.deepEqual(new MetricsAccumulator().result("fn", 1000).durationMs, {
      p50: null,
      p95: null,
      p99: null,
      mean: null,
      max: null,
    });
  });

  test("the mean keeps three decimals", () => {
    const acc = new MetricsAccumulator();
    for (const d of [1, 1, 2]) acc.add({ status: "ok", durationMs: d });
    assert.equal(acc.result("fn", 1000).durationMs.mean, 1.333);
  });
});
