// Issue 8's targets against what the bench measured, as medians over several reports (runs), each beside the
// floor measured in the same runs: the path floor (Weft's hops without Weft, test/bench/path-floor.ts), the raw
// NATS round trip, the parts' CPU floors. A target is "out of reach" when its floor already misses it on this
// machine: no implementation of this topology can meet it here.
//   node --import tsx test/bench/summary.ts REPORT.json [REPORT.json ...]   (prints the table, writes summary JSON)
import { readFile, writeFile } from "node:fs/promises";

interface Stats { n: number; p50: number; p99: number }
interface Row { metric: string; runtime?: string; isolation?: string; stats?: Stats; extra?: Record<string, number> }
interface CpuRow { process: string; msPerCall: number }
interface CpuReport { totalMsPerCall: number; callsPerSec: number; rows: CpuRow[] }
interface Overload { admitted: number; shed: number; failed: number; running: number; admittedStats: Stats; shedStats: Stats; recoveryP50Ms: number; beforeP50Ms: number; steadyAdmittedStats?: Stats; steadyShedStats?: Stats }
interface Report {
  at: string;
  loadavg: number[];
  rows: Row[];
  cpu?: Record<string, CpuReport>;
  /** The same on the direct sync path (WEFT_SYNC_PATH=direct; reports from before it have none). */
  cpuDirect?: Record<string, CpuReport>;
  cpuFloors?: Array<{ floor: string; totalMs: number }>;
  pathFloor?: { latency: Stats; busOnlyLatency: Stats; grpcLatency?: Stats; rps: number; cpu: CpuReport };
  /** The path floor with nodejs containers: throughput and CPU only (reports from before it have none). */
  pathFloorNodejs?: { rps: number; cpu: CpuReport };
  /** The path floor with its containers running several calls at once, beside the functions deployed so. */
  pathFloorConcurrent?: Record<string, { rps: number; cpu: CpuReport; concurrency?: number }>;
  /** The soak section (reports from before it have none). */
  soaks?: Array<{ runtime: string; concurrency: number; sliceMs: number; sliceRps: number[]; rps: number; slowestSliceRps: number; errors: number; memoryGrowth: number }>;
  manyFunctionsFloor?: { rps: number; oneFunctionRps: number; ratio: number };
  manyFunctions?: { rps: number; ratio: number; hostMemoryFor100GiB: number; hostPssFor100GiB: number; memory: { meanMiB: number; pssMeanMiB: number } };
  overload?: Overload;
  overloadSized?: Overload & { maxInflight: number };
  overloadFloor?: Overload & { maxInflight: number };
}

export interface TargetLine {
  target: string;
  goal: string;
  measured: number[];
  median: number | undefined;
  floor: number | undefined;
  unit: string;
  verdict: "met" | "not met" | "out of reach here" | "not measured";
  note?: string;
}

const median = (xs: number[]): number | undefined => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number | undefined, d = 3) => (x === undefined ? undefined : Math.round(x * 10 ** d) / 10 ** d);

function rowOf(r: Report, metric: string, runtime?: string, isolation?: string): Row | undefined {
  return r.rows.find((x) => x.metric.startsWith(metric) && (runtime === undefined || x.runtime === runtime) && (isolation === undefined || x.isolation === isolation));
}

/** One target: `lowerIsBetter` goals are met at or under `goal`; the floor decides "out of reach". */
function line(target: string, goal: number, unit: string, lowerIsBetter: boolean, measuredAll: number[], floors: number[], note?: string): TargetLine {
  const measured = measuredAll.filter((x) => Number.isFinite(x));
  const med = median(measured);
  const floor = median(floors);
  const meets = (x: number) => (lowerIsBetter ? x <= goal : x >= goal);
  let verdict: TargetLine["verdict"] = "not measured";
  if (med !== undefined) verdict = meets(med) ? "met" : floor !== undefined && !meets(floor) ? "out of reach here" : "not met";
  return { target, goal: `${lowerIsBetter ? "≤" : "≥"} ${goal} ${unit}`, measured: measured.map((x) => round(x)!), median: round(med), floor: round(floor), unit, verdict, note };
}

/** A runtime's path floor in a report: python3's carries latencies too, nodejs's throughput and CPU only. */
function pathFloorOf(r: Report, runtime: string): { rps: number; cpu: CpuReport } | undefined {
  return runtime === "python3" ? r.pathFloor : r.pathFloorNodejs;
}

/** The path floor whose containers take `concurrency` calls at once, as the functions measured beside it. */
function pathFloorAt(r: Report, runtime: string, concurrency: number): { rps: number; cpu: CpuReport } | undefined {
  return concurrency === 1 ? pathFloorOf(r, runtime) : r.pathFloorConcurrent?.[runtime];
}

export function summarize(reports: Report[]): TargetLine[] {
  const all = <T>(f: (r: Report) => T | undefined): T[] => reports.map(f).filter((x): x is T => x !== undefined);
  const p50 = (metric: string, runtime?: string, isolation?: string) => all((r) => rowOf(r, metric, runtime, isolation)?.stats?.p50);
  const natsFloor = p50("floor: raw NATS request-reply");
  const pathP50 = all((r) => r.pathFloor?.latency.p50);
  const lines: TargetLine[] = [];

  // CPU per call: the floor is the path floor plus what Weft's promises cost at the least (a stored job, a stored record).
  const durableParts = (runtime: string) => all((r) => {
    const f = r.cpuFloors ?? [];
    const job = f.find((x) => x.floor.startsWith("JetStream"))?.totalMs;
    const rec = f.find((x) => x.floor.startsWith("records"))?.totalMs;
    const path = pathFloorOf(r, runtime);
    return path && job !== undefined && rec !== undefined ? path.cpu.totalMsPerCall + job + rec : undefined;
  });
  for (const runtime of ["python3", "nodejs"]) {
    lines.push(line(`CPU per warm invocation, all processes (${runtime})`, 1.0, "ms", true, all((r) => r.cpu?.[runtime]?.totalMsPerCall),
      durableParts(runtime), "floor: path floor + JetStream job + record insert"));
  }
  // The direct sync path stores no job: its floor is the path floor plus a stored record.
  const recordPart = (runtime: string, pathOf: (r: Report, runtime: string) => { cpu: CpuReport } | undefined = pathFloorOf) => all((r) => {
    const rec = (r.cpuFloors ?? []).find((x) => x.floor.startsWith("records"))?.totalMs;
    const path = pathOf(r, runtime);
    return path && rec !== undefined ? path.cpu.totalMsPerCall + rec : undefined;
  });
  for (const runtime of ["python3", "nodejs"]) {
    lines.push(line(`CPU per warm invocation, all processes (${runtime}), direct sync path`, 1.0, "ms", true, all((r) => r.cpuDirect?.[runtime]?.totalMsPerCall),
      recordPart(runtime), "WEFT_SYNC_PATH=direct; floor: path floor + record insert"));
  }
  // The pair measured one after the other on gateways restarted the same way (reports from before it have none).
  const beside = all((r) => {
    const q = r.cpuDirect?.["python3, queue path beside it"]?.totalMsPerCall;
    const d = r.cpuDirect?.python3?.totalMsPerCall;
    return q && d ? d / q : undefined;
  });
  if (beside.length > 0) {
    lines.push(line("CPU per call, direct path over the queue path beside it (python3)", 1, "x", true, beside, [], "the pair measured back to back, each on a freshly restarted and warmed gateway"));
  }
  lines.push(line("warm HTTP p50, one client (python3)", 0.7, "ms", true, p50("warm invoke over HTTP", "python3"), pathP50, "floor: the same hops without Weft"));
  lines.push(line("warm HTTP p99, one client (python3)", 3, "ms", true, all((r) => rowOf(r, "warm invoke over HTTP", "python3")?.stats?.p99), all((r) => r.pathFloor?.latency.p99)));
  const within = (via: string) => all((r) => {
    const h = rowOf(r, "warm invoke over HTTP", "python3")?.stats?.p50;
    const o = rowOf(r, `warm invoke over ${via}`, "python3")?.stats?.p50;
    return h && o ? ((o - h) / h) * 100 : undefined;
  });
  lines.push(line("gRPC p50 over HTTP p50 (python3)", 10, "%", true, within("gRPC"),
    all((r) => (r.pathFloor?.grpcLatency ? ((r.pathFloor.grpcLatency.p50 - r.pathFloor.latency.p50) / r.pathFloor.latency.p50) * 100 : undefined)),
    "floor: the path floor's gRPC over its HTTP (grpc-js against node:http)"));
  lines.push(line("NATS request p50 over HTTP p50 (python3)", 10, "%", true, within("NATS request"), []));
  lines.push(line("ratio of warm HTTP p50 to the bus floor", 2.5, "x", true,
    reports.map((r) => (rowOf(r, "warm invoke over HTTP", "python3")?.stats?.p50 ?? NaN) / (rowOf(r, "floor: raw NATS request-reply")?.stats?.p50 ?? NaN)),
    reports.map((r) => (r.pathFloor?.latency.p50 ?? NaN) / (rowOf(r, "floor: raw NATS request-reply")?.stats?.p50 ?? NaN)), "floor: the path floor's p50 over the bus floor"));
  const direct = "direct sync path: ";
  lines.push(line("warm HTTP p50, one client (python3), direct sync path", 0.7, "ms", true, p50(`${direct}warm invoke over HTTP`, "python3"), pathP50));
  lines.push(line("warm HTTP p99, one client (python3), direct sync path", 3, "ms", true, all((r) => rowOf(r, `${direct}warm invoke over HTTP`, "python3")?.stats?.p99), all((r) => r.pathFloor?.latency.p99)));
  for (const runtime of ["python3", "nodejs"]) {
    lines.push(line(`throughput at 64 clients (${runtime})`, 2500, "/s", false, all((r) => rowOf(r, "throughput, 64 HTTP clients", runtime)?.extra?.rps),
      all((r) => pathFloorOf(r, runtime)?.rps), "floor: the path floor's throughput (an upper bound)"));
    lines.push(line(`throughput at 64 clients (${runtime}), direct sync path`, 2500, "/s", false, all((r) => rowOf(r, `${direct}throughput, 64 HTTP clients`, runtime)?.extra?.rps),
      all((r) => pathFloorOf(r, runtime)?.rps), "WEFT_SYNC_PATH=direct"));
  }
  // The same functions deployed with `concurrency` above 1 (WEFT_BENCH_FUNCTION_CONCURRENCY; reports from before
  // it have none): the worker is stopped and checked once its last call in flight has answered.
  const concurrent = "direct sync path, concurrency ";
  const concurrencyOf = (r: Report) => /^direct sync path, concurrency (\d+):/.exec(r.rows.find((x) => x.metric.startsWith(concurrent))?.metric ?? "")?.[1];
  const levels = [...new Set(all(concurrencyOf))];
  const floorAtLevel = (r: Report, runtime: string) => pathFloorAt(r, runtime, Number(concurrencyOf(r)));
  for (const runtime of ["python3", "nodejs"]) {
    if (levels.length === 0) break;
    const label = `concurrency ${levels.join("/")}`;
    lines.push(line(`throughput at 64 clients (${runtime}), direct sync path, ${label}`, 2500, "/s", false,
      all((r) => rowOf(r, `${concurrent}${concurrencyOf(r)}: throughput, 64 HTTP clients`, runtime)?.extra?.rps),
      all((r) => floorAtLevel(r, runtime)?.rps), "functions deployed with concurrency above 1; floor: the path floor, its containers at the same concurrency"));
    lines.push(line(`CPU per warm invocation, all processes (${runtime}), direct sync path, ${label}`, 1.0, "ms", true,
      all((r) => r.cpuDirect?.[`${runtime}, concurrency ${concurrencyOf(r)}`]?.totalMsPerCall),
      recordPart(runtime, floorAtLevel), "floor: the path floor at the same concurrency + record insert"));
  }
  // Issue 8: "stable for 60 s with no error and flat memory", per runtime and concurrency the soak ran.
  const soakKeys = [...new Set(all((r) => r.soaks).flat().map((x) => `${x.runtime}|${x.concurrency}`))];
  for (const key of soakKeys) {
    const [runtime, level] = key.split("|") as [string, string];
    const concurrency = Number(level);
    const soakOf = (r: Report) => r.soaks?.find((x) => x.runtime === runtime && x.concurrency === concurrency);
    const seconds = median(all((r) => {
      const s = soakOf(r);
      return s && (s.sliceMs * s.sliceRps.length) / 1000;
    })) ?? 60;
    const what = `soak ${seconds} s at 64 clients (${runtime}), direct sync path, concurrency ${concurrency}`;
    const floor = all((r) => pathFloorAt(r, runtime, concurrency)?.rps);
    lines.push(line(`${what}: slowest slice`, 2500, "/s", false, all((r) => soakOf(r)?.slowestSliceRps), floor,
      `mean ${median(all((r) => soakOf(r)?.rps)) ?? "-"}/s; floor: the path floor's throughput at the same concurrency`));
    lines.push(line(`${what}: errors`, 0, "calls", true, all((r) => soakOf(r)?.errors), []));
    lines.push(line(`${what}: fabric RSS at the end over after the first slice`, 1.1, "x", true, all((r) => soakOf(r)?.memoryGrowth), [],
      "every process of the fabric and its containers"));
  }
  lines.push(line("100 warm functions: throughput over one function's", 0.8, "x", false, all((r) => r.manyFunctions?.ratio), all((r) => r.manyFunctionsFloor?.ratio),
    "floor: the path floor's 100 pinned containers over its one function's"));
  lines.push(line("100 warm containers: host memory (runner + shim RSS)", 3, "GiB", true, all((r) => r.manyFunctions?.hostMemoryFor100GiB), [],
    `PSS ${median(all((r) => r.manyFunctions?.hostPssFor100GiB)) ?? "-"} GiB`));
  lines.push(line("first call, stem cell ready (python3, runc)", 25, "ms", true, p50("first call, new function, stem cell ready", "python3", "runc"), []));
  lines.push(line("first call, stem cell ready (nodejs, runc)", 25, "ms", true, p50("first call, new function, stem cell ready", "nodejs", "runc"), []));
  lines.push(line("first call, stem cell ready (python3, gVisor)", 50, "ms", true, p50("first call, new function, stem cell ready", "python3", "gvisor"), []));
  lines.push(line("first call, stem cell ready (nodejs, gVisor)", 50, "ms", true, p50("first call, new function, stem cell ready", "nodejs", "gvisor"), []));
  // The same deploy the moment a refilled stem cell is ready (reports from before this row have none).
  for (const [runtime, isolation, goal] of [["python3", "runc", 25], ["nodejs", "runc", 25], ["python3", "gvisor", 50], ["nodejs", "gvisor", 50]] as const) {
    lines.push(line(`first call, stem cell just started (${runtime}, ${isolation === "gvisor" ? "gVisor" : "runc"})`, goal, "ms", true,
      p50("first call, new function, stem cell just started", runtime, isolation), [], isolation === "gvisor" ? "the sandbox's vDSO clock is not calibrated yet (gVisor does it 1 s after boot)" : undefined));
  }
  // Medians of each (the sections may have run in different reports).
  const perCall = median(p50("floor: container per call", "python3", "runc"));
  const warmHttp = median(p50("warm invoke over HTTP", "python3"));
  lines.push(line("container per call over warm (python3, runc)", 100, "x", false, perCall !== undefined && warmHttp !== undefined ? [perCall / warmHttp] : [], []));
  for (const [label, pick] of [
    ["WEFT_MAX_INFLIGHT as deployed", (r: Report) => r.overload],
    ["WEFT_MAX_INFLIGHT sized", (r: Report) => r.overloadSized],
  ] as const) {
    const sizedTo = median(all((r) => r.overloadSized?.maxInflight));
    const tag = label.endsWith("sized") && sizedTo !== undefined ? `${label} ${sizedTo}` : label;
    // The floor: the path floor behind a stand-in gateway that only sheds, at 4x its own throughput (reports from
    // before it have none).
    const floorOf = (f: (o: Overload) => number | undefined) => all((r) => (r.overloadFloor ? f(r.overloadFloor) : undefined));
    lines.push(line(`overload 4x, ${tag}: p99 of a 429`, 100, "ms", true, all((r) => pick(r)?.shedStats.p99), floorOf((o) => o.shedStats.p99),
      "floor: the path floor shedding over a sized in-flight bound at 4x its own throughput"));
    lines.push(line(`overload 4x, ${tag}: p99 of admitted calls`, 1000, "ms", true, all((r) => pick(r)?.admittedStats.p99), floorOf((o) => o.admittedStats.p99), "the issue asks 'bounded': 1 s taken here"));
    // Reports from before the onset was told apart have no steady figures: those lines stay empty for them.
    lines.push(line(`overload 4x, ${tag}: p99 of a 429, sent after the onset (first 3 s, quick 1 s)`, 100, "ms", true, all((r) => pick(r)?.steadyShedStats?.p99),
      floorOf((o) => o.steadyShedStats?.p99), "past the onset: thousands of new connections at once"));
    lines.push(line(`overload 4x, ${tag}: p99 of admitted calls, sent after the onset (first 3 s, quick 1 s)`, 1000, "ms", true, all((r) => pick(r)?.steadyAdmittedStats?.p99),
      floorOf((o) => o.steadyAdmittedStats?.p99)));
    lines.push(line(`overload 4x, ${tag}: calls failed (not 200, 202 or 429)`, 0, "", true, all((r) => pick(r)?.failed), []));
    lines.push(line(`overload 4x, ${tag}: p50 right after over p50 before`, 1.5, "x", true, all((r) => { const o = pick(r); return o ? o.recoveryP50Ms / o.beforeP50Ms : undefined; }), []));
  }
  void natsFloor;
  return lines;
}

type CpuTable = Array<{ process: string; weft: number | undefined; pathFloor: number | undefined }>;

/** Per-process CPU per call of one runtime, median over the reports, for Weft and for the path floor. */
export function cpuTable(reports: Report[], runtime: "python3" | "nodejs" = "python3", direct = false): CpuTable {
  const weftOf = (r: Report) => (direct ? r.cpuDirect : r.cpu)?.[runtime];
  const names = ["gateway", "agent", "nats-server", "controller", "ferretdb", "dockerd", "containerd", "containerd-shim", "containers"];
  const pick = (c: CpuReport | undefined, name: string) => c?.rows.find((r) => r.process === name)?.msPerCall;
  const mid = (xs: Array<number | undefined>) => round(median(xs.filter((x): x is number => x !== undefined)));
  const out = names.map((process) => ({
    process,
    weft: mid(reports.map((r) => pick(weftOf(r), process))),
    pathFloor: mid(reports.map((r) => pick(pathFloorOf(r, runtime)?.cpu, process))),
  }));
  out.push({ process: "total", weft: mid(reports.map((r) => weftOf(r)?.totalMsPerCall)), pathFloor: mid(reports.map((r) => pathFloorOf(r, runtime)?.cpu.totalMsPerCall)) });
  return out;
}

export function printSummary(lines: TargetLine[], cpu: Record<string, CpuTable>, runs: number): void {
  console.log(`\n[bench] issue 8's targets: medians of ${runs} run(s), each beside its floor from the same runs (the runs column lists every value; many, overload and first run once)`);
  const cells = lines.map((l) => [l.target, l.goal, l.median === undefined ? "-" : `${l.median}`, l.floor === undefined ? "-" : `${l.floor}`, l.verdict, `[${l.measured.join(", ")}]${l.note ? `  ${l.note}` : ""}`]);
  const head = ["target", "goal", "median", "floor", "verdict", "runs"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join("  ");
  console.log(fmt(head));
  for (const c of cells) console.log(fmt(c));
  for (const [runtime, table] of Object.entries(cpu)) {
    console.log(`\n[bench] CPU per call by process, ${runtime}, 64 clients (medians): Weft beside the path floor (same hops, no Weft)`);
    for (const r of table) console.log(`  ${r.process.padEnd(16)} ${String(r.weft ?? "-").padStart(7)} ms   floor ${String(r.pathFloor ?? "-").padStart(7)} ms`);
  }
}

/** Reads the reports, prints the targets and the CPU table, and writes them beside the last report (never over it). */
export async function writeSummary(files: string[]): Promise<void> {
  const reports = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f, "utf8")) as Report));
  const lines = summarize(reports);
  const cpu = {
    python3: cpuTable(reports, "python3"),
    nodejs: cpuTable(reports, "nodejs"),
    "python3, direct sync path": cpuTable(reports, "python3", true),
    "nodejs, direct sync path": cpuTable(reports, "nodejs", true),
  };
  printSummary(lines, cpu, reports.length);
  const last = files[files.length - 1]!;
  const named = last.replace(/bench-([^/]*)\.json$/, "summary-$1.json");
  const out = named === last ? `${last}.summary.json` : named;
  await writeFile(out, JSON.stringify({ reports: files, targets: lines, cpu }, null, 2));
  console.log(`\n[bench] summary written to ${out}`);
}

if (import.meta.filename === process.argv[1]) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: summary.ts REPORT.json [REPORT.json ...]");
    process.exit(2);
  }
  await writeSummary(files);
}
