// npm run bench:affinity — direct calls over two agents, with and without routing to a function's home agent
// (WEFT_DIRECT_AFFINITY), in alternating rounds of the same run.
//
// Each round starts a fabric of its own (NATS, controller, gateway with WEFT_SYNC_PATH=direct, two agents without
// stem cells) and deploys WEFT_BENCH_FUNCTIONS python3 echo functions (default 40). A warm-up calls each function
// twice, one call at a time. Then CLIENTS clients (default 8: many functions, each lightly used, OpenWhisk's hard
// case) call the functions round-robin, each from its own offset, for WEFT_BENCH_CALLS calls in all (default 4,000;
// quick: 1,000). Per mode: the cold starts of the measured calls (the floor is none: every function warm after the
// warm-up), the warm-hit ratio, the containers on the agents at the end against the floor of one per function, the
// functions that ran on both agents, calls/s, p50 and p99. The components share this process, so read calls/s
// against the other mode's in the same run, not against `npm run bench`. Prints a table and writes
// bench-results/affinity-<time>.json.
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { http, startAnotherAgent, startFabric, untilAgentsRunning } from "../harness/fabric.js";
import { AgentContainers } from "../harness/containers.js";

const ROOT = resolve(import.meta.dirname, "../..");
const QUICK = process.env.WEFT_BENCH_QUICK === "1";
const FUNCTIONS = Number(process.env.WEFT_BENCH_FUNCTIONS ?? 40);
const CALLS = Number(process.env.WEFT_BENCH_CALLS ?? (QUICK ? 1000 : 4000));
const CLIENTS = Number(process.env.WEFT_BENCH_CLIENTS ?? 8);
const ROUNDS = QUICK ? 1 : 2;
const ECHO = "def handler(event, context):\n    return event\n";

type Mode = "affinity" | "any agent";

interface Round {
  mode: Mode;
  calls: number;
  errors: number;
  coldStarts: number;
  /** Warm calls over all calls. */
  warmHitRatio: number;
  containersPerAgent: number[];
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Functions whose calls ran on both agents. */
  functionsOnBothAgents: number;
  loadAverage: number;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

async function round(mode: Mode): Promise<Round> {
  const tag = randomBytes(2).toString("hex");
  const fabric = await startFabric({
    gatewayEnv: { WEFT_SYNC_PATH: "direct", WEFT_DIRECT_AFFINITY: mode === "affinity" ? "true" : "false", WEFT_LOG_LEVEL: "warn" },
    agentEnv: { WEFT_STEM_CELLS: "0", WEFT_AGENT_ID: `bench-a-${tag}`, WEFT_LOG_LEVEL: "warn" },
  });
  const second = await startAnotherAgent(fabric, `bench-b-${tag}`, { WEFT_STEM_CELLS: "0", WEFT_LOG_LEVEL: "warn" });
  const agents = [fabric.agent.agentId, second.agentId];
  try {
    await untilAgentsRunning(fabric.httpUrl, agents);
    const names = Array.from({ length: FUNCTIONS }, (_, i) => `aff-${tag}-${i}`);
    for (const name of names) {
      const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code: ECHO });
      if (res.status !== 200 && res.status !== 201) throw new Error(`deploy ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    for (let pass = 0; pass < 2; pass++) {
      for (const name of names) {
        const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { warm: pass });
        if (res.status !== 200 || res.body.status !== "ok") throw new Error(`warm-up of ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    const latencies: number[] = [];
    const ranOn = new Map<string, Set<string>>();
    let next = 0;
    let errors = 0;
    let cold = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
      for (let k = client; ; k += CLIENTS) {
        if (next >= CALLS) return;
        next++;
        const name = names[k % names.length]!;
        const t0 = performance.now();
        const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { k });
        latencies.push(performance.now() - t0);
        if (res.status !== 200 || res.body.status !== "ok") {
          errors++;
          continue;
        }
        if (res.body.coldStart) cold++;
        const set = ranOn.get(name) ?? new Set<string>();
        set.add(res.body.agent);
        ranOn.set(name, set);
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const containersPerAgent: number[] = [];
    for (const id of agents) containersPerAgent.push((await new AgentContainers(id).ids()).length);
    return {
      mode,
      calls: latencies.length,
      errors,
      coldStarts: cold,
      warmHitRatio: (latencies.length - errors - cold) / latencies.length,
      containersPerAgent,
      callsPerSec: latencies.length / seconds,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      functionsOnBothAgents: [...ranOn.values()].filter((s) => s.size > 1).length,
      loadAverage: loadavg()[0]!,
    };
  } finally {
    await second.stop();
    await fabric.stop();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of (r % 2 === 0 ? ["any agent", "affinity"] : ["affinity", "any agent"]) as Mode[]) {
      process.stderr.write(`[bench:affinity] round ${r + 1}, ${mode}\n`);
      rounds.push(await round(mode));
    }
  }
  const rows = (["any agent", "affinity"] as Mode[]).map((mode) => {
    const of = rounds.filter((x) => x.mode === mode);
    return {
      mode,
      coldStarts: median(of.map((x) => x.coldStarts)),
      warmHitRatio: median(of.map((x) => x.warmHitRatio)),
      containers: median(of.map((x) => x.containersPerAgent.reduce((a, b) => a + b, 0))),
      functionsOnBothAgents: median(of.map((x) => x.functionsOnBothAgents)),
      callsPerSec: median(of.map((x) => x.callsPerSec)),
      p50Ms: median(of.map((x) => x.p50Ms)),
      p99Ms: median(of.map((x) => x.p99Ms)),
      errors: of.reduce((a, x) => a + x.errors, 0),
    };
  });
  const line = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(34) : c.padStart(14))).join(""));
  console.log(`\ndirect calls over two agents: ${FUNCTIONS} python3 functions, ${CLIENTS} clients round-robin, ${CALLS} calls, ${ROUNDS} round(s) per mode (medians)`);
  line(["", "cold starts", "warm hits", "containers", "fns on both", "calls/s", "p50 ms", "p99 ms", "errors"]);
  line([`floor: each function warm on one agent`, "0", "100.00 %", String(FUNCTIONS), "0", "", "", "", ""]);
  for (const r of rows) {
    line([r.mode, String(r.coldStarts), `${(r.warmHitRatio * 100).toFixed(2)} %`, String(r.containers), String(r.functionsOnBothAgents), r.callsPerSec.toFixed(0), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2), String(r.errors)]);
  }
  const dir = join(ROOT, "bench-results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `affinity-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify({ functions: FUNCTIONS, clients: CLIENTS, calls: CALLS, rounds, medians: rows }, null, 2));
  console.log(`\nreport: ${file}`);
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
