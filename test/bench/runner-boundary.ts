// npm run bench:runner — what the agent ↔ runner channel, the trusted-runner boundary and the between-calls checks
// cost per warm call, measured on real containers with the agent's hardening, in the same run as their floors:
//   worker alone, attach   the language worker speaking straight over docker attach (no runner): the old floor
//   worker alone, socket   the worker speaking straight over the agent's Unix socket (no runner): the new floor
//   runner, attach         what production ran before: weft-runner + settle + SIGSTOP, over docker attach
//   runner, socket, no settle / checks, no freeze   the socket channel, checks between calls off / no SIGSTOP
//   runner, socket         what production runs: the socket channel, boundary + SIGSTOP, then the leftovers checks
// Besides latency, each variant's CPU per call of dockerd, of its container's containerd-shim and of the container's own processes is read from
// /proc/<pid>/stat over its calls (dockerd is shared with whatever else the engine does: read it as an upper
// bound). Variants alternate in rounds so the shared machine's noise falls on all alike. Prints tables, writes JSON.
import Dockerode from "dockerode";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { childrenMap, withDescendants } from "./proc-stat.js";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Isolation } from "../../agents/docker-driver.js";
import { BENCH_RUNTIMES, VARIANTS, benchDriver, start, type BenchRuntime, type Started, type Variant } from "./runner-client.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CALLS = Number(process.env.WEFT_BENCH_CALLS ?? 2000);
const ROUNDS = 4;

const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim() || 100);

/** utime + stime of a process, in ms (0 when it is gone). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

const dockerdPid = (): number | undefined => {
  try {
    return Number(execFileSync("pidof", ["dockerd"]).toString().trim().split(" ")[0]) || undefined;
  } catch {
    return undefined;
  }
};

interface Cpu {
  dockerd: number;
  shim: number;
  /** The container's own processes (init, runner, worker and their threads): what the channel and the checks cost inside. */
  container: number;
  calls: number;
}

/** CPU in ms of every process under the container's shim (the shim itself not included). */
function containerCpuMs(shimPid: number | undefined): number {
  if (!shimPid) return 0;
  return withDescendants(shimPid, childrenMap()).filter((p) => p !== shimPid).reduce((sum, p) => sum + cpuMs(p), 0);
}

async function measure(s: Started, calls: number, cpu?: Cpu): Promise<number[]> {
  const event = Buffer.from('{"name":"x"}');
  const ms: number[] = [];
  const dockerd = dockerdPid();
  const d0 = cpuMs(dockerd);
  const s0 = cpuMs(s.shimPid);
  const c0 = containerCpuMs(s.shimPid);
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    s.client.send({ t: "run", id: String(i), ctx: { invocationId: `b${i}` }, eventBytes: event.length }, event);
    const r = await s.client.next();
    ms.push(performance.now() - t);
    if (r.ok !== true) throw new Error(`call failed: ${JSON.stringify(r)}`);
  }
  if (cpu) {
    cpu.dockerd += cpuMs(dockerd) - d0;
    cpu.shim += cpuMs(s.shimPid) - s0;
    cpu.container += containerCpuMs(s.shimPid) - c0;
    cpu.calls += calls;
  }
  return ms;
}

const pct = (s: number[], q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;

type Row = { runtime: BenchRuntime; isolation: Isolation; variant: Variant; n: number; p50: number; p99: number; dockerdUsPerCall: number; shimUsPerCall: number; containerUsPerCall: number };

async function main(): Promise<void> {
  const docker = new Dockerode();
  const { driver, channelDir } = await benchDriver(docker, BENCH_RUNTIMES, "bench-boundary");
  const rows: Row[] = [];
  const runtimes = (process.env.WEFT_BENCH_RUNTIMES?.split(",") ?? BENCH_RUNTIMES) as BenchRuntime[];
  const isolations = (process.env.WEFT_BENCH_ISOLATIONS?.split(",") ?? ["runc", "gvisor"]) as Isolation[];
  for (const runtime of runtimes) {
    for (const isolation of isolations) {
      const samples = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
      const cpu = Object.fromEntries(VARIANTS.map((v) => [v, { dockerd: 0, shim: 0, container: 0, calls: 0 }])) as Record<Variant, Cpu>;
      const started = await Promise.all(VARIANTS.map((v) => start(docker, driver, channelDir, runtime, isolation, v)));
      try {
        for (const s of started) await measure(s, 200); // warm-up
        for (let round = 0; round < ROUNDS; round++) {
          for (const [i, v] of VARIANTS.entries()) samples[v].push(...(await measure(started[i]!, CALLS / ROUNDS, cpu[v])));
        }
      } finally {
        await Promise.all(started.map((s) => s.stop()));
      }
      for (const v of VARIANTS) {
        const s = samples[v].sort((a, b) => a - b);
        const perCall = (ms: number) => Math.round((ms * 1000) / Math.max(1, cpu[v].calls));
        rows.push({ runtime, isolation, variant: v, n: s.length, p50: +pct(s, 0.5).toFixed(3), p99: +pct(s, 0.99).toFixed(3), dockerdUsPerCall: perCall(cpu[v].dockerd), shimUsPerCall: perCall(cpu[v].shim), containerUsPerCall: perCall(cpu[v].container) });
      }
    }
  }
  console.log(`CPU clock tick: ${TICK_MS} ms (per-call CPU is accumulated over ${CALLS} calls per variant)`);
  console.log("| runtime | isolation | variant | p50 ms | p99 ms | p50 − worker alone (attach) | p50 − worker alone (socket) | dockerd µs/call | shim µs/call | container µs/call |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const floor = (v: Variant) => rows.find((x) => x.runtime === r.runtime && x.isolation === r.isolation && x.variant === v)!.p50;
    console.log(
      `| ${r.runtime} | ${r.isolation} | ${r.variant} | ${r.p50} | ${r.p99} | ${(r.p50 - floor("worker alone, attach")).toFixed(3)} | ${(r.p50 - floor("worker alone, socket")).toFixed(3)} | ${r.dockerdUsPerCall} | ${r.shimUsPerCall} | ${r.containerUsPerCall} |`,
    );
  }
  const dir = join(ROOT, "bench-results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `runner-boundary-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify({ calls: CALLS, rows }, null, 2));
  console.log(`report: ${file}`);
}

await main();
