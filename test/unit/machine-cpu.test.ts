// The bench's reading of the whole machine's CPU (/proc/stat): what else ran beside a measured fabric.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpuMs, machineCpuMs } from "../bench/proc-stat.js";

test("machine CPU: busy time grows by at least what this process burned, and steal never goes back", () => {
  const machine0 = machineCpuMs();
  const self0 = cpuMs(process.pid);
  // Until this process has had 200 ms of CPU (a busy machine gives it less than the wall time), 20 s at most.
  const giveUpAt = performance.now() + 20_000;
  let x = 0;
  while (cpuMs(process.pid) - self0 < 200 && performance.now() < giveUpAt) for (let i = 0; i < 100_000; i++) x += Math.sqrt(x + 1);
  const burned = cpuMs(process.pid) - self0;
  const machine1 = machineCpuMs();
  assert.ok(x > 0);
  assert.ok(burned >= 200, `this process burned ${burned} ms`);
  // Both read in 10 ms ticks: allow two ticks of rounding on each side.
  assert.ok(machine1.busy - machine0.busy >= burned - 40, `machine busy grew ${machine1.busy - machine0.busy} ms, this process burned ${burned} ms`);
  assert.ok(machine1.steal >= machine0.steal);
});
