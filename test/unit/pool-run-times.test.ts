// The pool's run-time window keeps its samples sorted as they come and go: its median must be the median of the
// last RUN_WINDOW (32) samples, exactly what sorting a copy gives.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RunTimes } from "../../agents/pool.js";

test("the median of the run-time window is the median of its last 32 samples, duplicates and all", () => {
  const times = new RunTimes();
  const seen: number[] = [];
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 500; i++) {
    const ms = i % 7 === 0 ? 5 : Math.round(random() * 40) / 2; // many equal values
    times.add(ms);
    seen.push(ms);
    const window = seen.slice(-32).sort((a, b) => a - b);
    assert.equal(times.median, window[Math.floor(window.length / 2)], `after ${i + 1} samples`);
  }
});

test("an empty window's median is 0", () => {
  assert.equal(new RunTimes().median, 0);
});
