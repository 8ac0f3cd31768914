// The soak's figures (test/bench/soak.ts): throughput per slice, steadiness and memory growth from raw counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { soak, soakFigures } from "../bench/soak.js";

test("soakFigures: rates per slice, the slowest over the median, and memory at the end over the first slice", () => {
  const f = soakFigures(
    {
      sliceCounts: [30_000, 28_000, 25_000, 29_000, 31_000, 30_000],
      memory: [
        { gateway: 100, agent: 200 },
        { gateway: 101, agent: 210 },
        { gateway: 102, agent: 220 },
        { gateway: 103, agent: 230 },
        { gateway: 104, agent: 240 },
        { gateway: 110, agent: 220 },
      ],
    },
    10_000,
  );
  assert.deepEqual(f.sliceRps, [3000, 2800, 2500, 2900, 3100, 3000]);
  assert.equal(f.rps, 2883);
  assert.equal(f.slowestSliceRps, 2500);
  assert.equal(f.steadiness, Math.round((2500 / 2950) * 1000) / 1000);
  assert.equal(f.memoryFirstMiB, 300);
  assert.equal(f.memoryLastMiB, 330);
  assert.equal(f.memoryGrowth, 1.1);
  assert.deepEqual(f.memoryGrowthMiB, { gateway: 10, agent: 20 });
});

test("soakFigures: a group that appears later (a container started mid-soak) counts as growth", () => {
  const f = soakFigures({ sliceCounts: [10, 10], memory: [{ agent: 100 }, { agent: 100, containers: 50 }] }, 1000);
  assert.equal(f.memoryGrowth, 1.5);
  assert.deepEqual(f.memoryGrowthMiB, { agent: 0, containers: 50 });
});

test("soak: every answer lands in the slice it arrived in, a failed call is an error, memory is read once per slice", async () => {
  let n = 0;
  const reads: number[] = [];
  const run = await soak({
    slices: 3,
    sliceMs: 60,
    clients: 4,
    call: async () => {
      await new Promise((r) => setTimeout(r, 5));
      if (++n % 10 === 0) throw new Error("refused");
      return 5;
    },
    memory: async () => {
      reads.push(performance.now());
      return { agent: reads.length };
    },
  });
  assert.equal(run.sliceCounts.length, 3);
  assert.ok(run.sliceCounts.every((c) => c > 0), `every slice has answers: ${run.sliceCounts}`);
  assert.equal(run.latencies.length, run.sliceCounts.reduce((a, b) => a + b, 0));
  assert.ok(run.errors > 0);
  assert.deepEqual(run.memory, [{ agent: 1 }, { agent: 2 }, { agent: 3 }]);
});
