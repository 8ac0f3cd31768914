// up's restart policy: exponential back-off with a cap, reset by a run that lasted; a crash loop is quick deaths in a row.
import { test } from "node:test";
import assert from "node:assert/strict";
import { NEW_SERIES, afterDeath, backoffMs, type RestartPolicyOptions, type RestartSeries } from "../../deploy/restart-policy.js";

const o: RestartPolicyOptions = { initialDelayMs: 1000, maxDelayMs: 30_000, stableAfterMs: 30_000, crashLoopAfter: 3 };

function deaths(ranMs: number[]): Array<{ delayMs: number; crashLoop: boolean }> {
  let series: RestartSeries = NEW_SERIES;
  return ranMs.map((ran) => {
    const d = afterDeath(series, ran, o);
    series = d.series;
    return { delayMs: d.delayMs, crashLoop: d.crashLoop };
  });
}

test("quick deaths double the wait up to the cap, and the third one in a row is a crash loop", () => {
  const out = deaths([100, 100, 100, 100, 100, 100, 100]);
  assert.deepEqual(out.map((d) => d.delayMs), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  assert.deepEqual(out.map((d) => d.crashLoop), [false, false, true, true, true, true, true]);
});

test("a run that lasted starts a new series: the next death waits the initial delay and is no crash loop", () => {
  const out = deaths([100, 100, 100, 100, 31_000, 100]);
  assert.deepEqual(out.map((d) => d.delayMs), [1000, 2000, 4000, 8000, 1000, 2000]);
  assert.deepEqual(out.map((d) => d.crashLoop), [false, false, true, true, false, false]);
});

test("a run of exactly the stable time counts as healthy", () => {
  assert.equal(afterDeath({ quickDeaths: 5 }, o.stableAfterMs, o).series.quickDeaths, 1);
  assert.equal(afterDeath({ quickDeaths: 5 }, o.stableAfterMs - 1, o).series.quickDeaths, 6);
});

test("the back-off never overflows, however long the series", () => {
  assert.equal(backoffMs(10_000, o), 30_000);
  assert.equal(backoffMs(0, o), 1000);
});
