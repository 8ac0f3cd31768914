// npm run bench: the bench (test/bench/bench.ts) WEFT_BENCH_RUNS times (3 by default, each with a fresh fabric), then
// issue 8's targets as medians over the runs beside their floors (test/bench/summary.ts). The first run measures
// every section; the later ones repeat the sections the headline figures come from (floors, path floor, warm
// latency, throughput, CPU, the same on the direct sync path, and the soak), unless WEFT_BENCH_SECTIONS names them.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { writeSummary } from "./summary.js";

const RUNS = Number(process.env.WEFT_BENCH_RUNS ?? 3);
const REPEATED = "floors,path,warm,cpu,direct,soak";

function runBench(run: number): Promise<string> {
  const sections = process.env.WEFT_BENCH_SECTIONS ?? (run === 1 ? undefined : REPEATED);
  const env = { ...process.env, ...(sections ? { WEFT_BENCH_SECTIONS: sections } : {}) };
  console.log(`\n[bench] run ${run} of ${RUNS}${sections ? ` (sections ${sections})` : ""}`);
  const child = spawn(process.execPath, ["--import", "tsx", resolve(import.meta.dirname, "bench.ts")], { env, stdio: ["ignore", "pipe", "inherit"] });
  let report: string | undefined;
  createInterface({ input: child.stdout! }).on("line", (l) => {
    console.log(l);
    const m = /report written to (\S+\.json)/.exec(l);
    if (m) report = m[1];
  });
  return new Promise((ok, fail) =>
    child.on("exit", (code) => (code === 0 && report ? ok(report) : fail(new Error(`bench run ${run} failed (exit ${code})`)))),
  );
}

const files: string[] = [];
for (let run = 1; run <= RUNS; run++) files.push(await runBench(run));
await writeSummary(files);
