// The short version of npm run bench inside npm test: the direct and soak sections, quick (WEFT_BENCH_QUICK=1), on a
// fabric of the bench's own (its own NATS server and FerretDB, the real engine). A check that the bench still runs
// and that its report holds what test/bench/summary.ts reads, with every call answered and every record stored. No
// figure is held to a target here: the machine running npm test is shared, and the targets are npm run bench's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { summarize } from "./bench/summary.js";

const ROOT = resolve(import.meta.dirname, "..");

function runBench(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ["--import", "tsx", resolve(ROOT, "test/bench/bench.ts")], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let report: string | undefined;
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const m = /report written to (\S+\.json)/.exec(line);
    if (m) report = m[1];
  });
  return new Promise((ok, fail) =>
    child.on("exit", (code) => (code === 0 && report ? ok(report) : fail(new Error(`the bench exited ${code} (report ${report ?? "none"})`)))),
  );
}

interface Row { metric: string; runtime?: string; extra?: Record<string, number> }
interface Soak { runtime: string; concurrency: number; errors: number; sliceRps: number[]; memoryGrowth: number; memoryFirstMiB: number }

test("npm run bench, quick: the direct and soak sections answer every call and report what the summary reads", { timeout: 10 * 60_000 }, async () => {
  const file = await runBench({ WEFT_BENCH_QUICK: "1", WEFT_BENCH_SECTIONS: "direct,soak", WEFT_BENCH_FUNCTION_CONCURRENCY: "4" });
  const report = JSON.parse(readFileSync(file, "utf8")) as {
    rows: Row[];
    cpuDirect: Record<string, { totalMsPerCall: number; recordsStored: number; recordsExpected: number }>;
    soaks: Soak[];
  };
  const row = (metric: string, runtime: string) => report.rows.find((r) => r.metric.startsWith(metric) && r.runtime === runtime);
  for (const runtime of ["python3", "nodejs"]) {
    for (const metric of ["direct sync path: throughput, 64 HTTP clients", "direct sync path, concurrency 4: throughput, 64 HTTP clients"]) {
      const r = row(metric, runtime);
      assert.ok(r, `${metric} (${runtime}) is in the report`);
      assert.equal(r.extra?.errors, 0, `${metric} (${runtime}): no call failed`);
      assert.ok((r.extra?.rps ?? 0) > 0, `${metric} (${runtime}): calls were answered`);
    }
  }
  for (const key of ["python3", "python3, concurrency 4", "nodejs, concurrency 4"]) {
    const cpu = report.cpuDirect[key];
    assert.ok(cpu && cpu.totalMsPerCall > 0, `CPU per call for ${key}`);
    assert.equal(cpu.recordsStored, cpu.recordsExpected, `${key}: every answered call's record is stored`);
  }
  assert.deepEqual(report.soaks.map((s) => `${s.runtime}/${s.concurrency}`).sort(), ["nodejs/1", "nodejs/4", "python3/1", "python3/4"]);
  for (const s of report.soaks) {
    assert.equal(s.errors, 0, `soak ${s.runtime}/${s.concurrency}: no call failed`);
    assert.equal(s.sliceRps.length, 6);
    assert.ok(s.sliceRps.every((x) => x > 0), `soak ${s.runtime}/${s.concurrency}: every slice answered calls (${s.sliceRps})`);
    assert.ok(s.memoryFirstMiB > 0 && s.memoryGrowth > 0, `soak ${s.runtime}/${s.concurrency}: memory was read`);
  }
  const lines = summarize([report as never]);
  const soakLines = lines.filter((l) => l.target.startsWith("soak "));
  assert.equal(soakLines.length, 12, "three target lines for each runtime and concurrency");
  assert.ok(soakLines.every((l) => l.verdict !== "not measured"), JSON.stringify(soakLines.filter((l) => l.verdict === "not measured")));
  assert.ok(lines.some((l) => l.target.includes("direct sync path, concurrency 4") && l.verdict !== "not measured"));
});
