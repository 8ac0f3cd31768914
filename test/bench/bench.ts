// npm run bench: latency, throughput and first-call figures of the fabric, with the floors measured in the
// same run (raw NATS request-reply, a container per call). Prints a table and writes a JSON report.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { cpus, hostname, loadavg } from "node:os";
import { join, resolve } from "node:path";
import Dockerode from "dockerode";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort, startNats, type NatsServer } from "../harness/nats.js";
import { mongoUrl, uniqueDbName } from "../harness/mongo.js";
import { AGENT_PING_SUBJECT, invokeSubject } from "../../shared/subjects.js";
import { DEFAULT_SECCOMP_PROFILE, loadSeccompOption } from "../../agents/seccomp.js";
import { createGrpcInvoker, type GrpcInvoker } from "./grpc-client.js";

const ROOT = resolve(import.meta.dirname, "../..");
const RESULTS = join(ROOT, "bench-results");
const QUICK = process.env.WEFT_BENCH_QUICK === "1";
const N_WARM = QUICK ? 200 : 2000;
const THROUGHPUT_MS = QUICK ? 3000 : 10_000;
const CONCURRENCY = 64;
const FIRST_CALL_TRIALS = QUICK ? 2 : 5;
const FLOOR_CONTAINER_TRIALS = QUICK ? 3 : 8;

const FUNCTIONS = {
  python3: `def handler(event, context):\n    return {"hello": event.get("name")}\n`,
  nodejs: `exports.handler = async (event) => ({ hello: event.name })\n`,
} as const;
type Runtime = keyof typeof FUNCTIONS;
const IMAGES: Record<Runtime, string> = { python3: "weft/runtime-python3:latest", nodejs: "weft/runtime-nodejs:latest" };
const ONE_SHOT: Record<Runtime, string[]> = {
  python3: ["python3", "-c", `${FUNCTIONS.python3}\nimport json,sys\nprint(json.dumps(handler(json.loads(sys.argv[1]), None)))`, '{"name":"x"}'],
  nodejs: ["node", "-e", `${FUNCTIONS.nodejs};exports.handler(JSON.parse(process.argv[1])).then(r=>console.log(JSON.stringify(r)))`, '{"name":"x"}'],
};

interface Stats { n: number; p50: number; p99: number; mean: number; min: number; max: number }
type Row = { metric: string; runtime?: string; isolation?: string; value: string; stats?: Stats; extra?: Record<string, number> };

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    n: s.length,
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    mean: round(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
    min: round(s[0] ?? NaN),
    max: round(s[s.length - 1] ?? NaN),
  };
}

const now = () => performance.now();

// ---------- the fabric, as separate processes ----------

interface Fabric {
  nats: NatsServer;
  httpPort: number;
  grpcPort: number;
  procs: Map<string, ChildProcess>;
  env: Record<string, string>;
}

function spawnComponent(name: string, env: Record<string, string>): ChildProcess {
  // WEFT_BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the components.
  const nodeArgs = process.env.WEFT_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", join(ROOT, name, "main.ts")], {
    cwd: ROOT,
    env: { ...process.env, ...env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  // Component logs go to a file beside the report, for when a figure needs explaining.
  child.stdout?.pipe(createWriteStream(join(RESULTS, `${name}.log`), { flags: "a" }));
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGTERM") console.error(`[bench] ${name} exited code=${code} signal=${signal}`);
  });
  return child;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

async function startFabric(): Promise<Fabric> {
  await mkdir(RESULTS, { recursive: true });
  const nats = await startNats();
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const env = {
    WEFT_NATS_URL: nats.url,
    WEFT_MONGO_URL: mongoUrl(),
    WEFT_MONGO_DB: uniqueDbName("bench"),
    WEFT_HTTP_PORT: String(httpPort),
    WEFT_GRPC_PORT: String(grpcPort),
    WEFT_AGENT_ID: `bench-${randomBytes(3).toString("hex")}`,
  };
  const procs = new Map<string, ChildProcess>();
  for (const c of ["controller", "agents", "gateway"]) procs.set(c, spawnComponent(c, env));
  await waitHealthy(httpPort);
  return { nats, httpPort, grpcPort, procs, env };
}

async function restartAgent(f: Fabric, extraEnv: Record<string, string>): Promise<void> {
  await stopProcess(f.procs.get("agents"));
  f.procs.set("agents", spawnComponent("agents", { ...f.env, ...extraEnv }));
  await waitHealthy(f.httpPort);
}

async function waitHealthy(port: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("fabric did not become healthy");
}

// ---------- clients ----------

const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: CONCURRENCY });

function httpCall(port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolveCall, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, method, path, agent: keepAlive, headers: body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolveCall({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function deploy(port: number, name: string, runtime: Runtime, isolation: string): Promise<void> {
  const res = await httpCall(port, "PUT", `/v1/functions/${name}`, JSON.stringify({ runtime, code: FUNCTIONS[runtime], isolation }));
  if (res.status >= 300) throw new Error(`deploy ${name}: ${res.status} ${res.body}`);
}

async function invokeHttp(port: number, name: string): Promise<number> {
  const t0 = now();
  const res = await httpCall(port, "POST", `/v1/functions/${name}/invoke`, '{"name":"bench"}');
  const ms = now() - t0;
  if (res.status !== 200 || !res.body.includes('"ok"')) throw new Error(`invoke ${name}: ${res.status} ${res.body.slice(0, 300)}`);
  return ms;
}

async function sample(n: number, call: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < Math.min(50, n); i++) await call(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await call());
  return out;
}

// ---------- floors ----------

async function natsFloor(nc: NatsConnection): Promise<Stats> {
  const subject = `bench.echo.${randomBytes(3).toString("hex")}`;
  const sub = nc.subscribe(subject, { callback: (_e, m) => { m.respond(m.data); } });
  await nc.flush();
  const payload = JSON.stringify({ name: "bench" });
  const samples = await sample(N_WARM, async () => {
    const t0 = now();
    await nc.request(subject, payload, { timeout: 5000 });
    return now() - t0;
  });
  sub.unsubscribe();
  return stats(samples);
}

/** The container-per-invocation model: create, start, run the handler once, wait, remove. */
async function containerPerCallFloor(docker: Dockerode, runtime: Runtime, isolation: string): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < FLOOR_CONTAINER_TRIALS; i++) {
    const t0 = now();
    const c = await docker.createContainer({
      Image: IMAGES[runtime],
      Cmd: ONE_SHOT[runtime],
      User: "65534:65534",
      // Weft's profile, as a function container has: under runsc --oci-seccomp, Docker's default one answers
      // clone3 with EPERM (runsc ignores its ENOSYS) and glibc then cannot start threads.
      HostConfig: {
        NetworkMode: "none",
        AutoRemove: false,
        Runtime: isolation === "gvisor" ? "runsc" : "runc",
        SecurityOpt: [loadSeccompOption(DEFAULT_SECCOMP_PROFILE)],
      },
    });
    await c.start();
    const { StatusCode } = (await c.wait()) as { StatusCode: number };
    await c.remove({ force: true });
    if (StatusCode !== 0) throw new Error(`one-shot ${runtime}/${isolation} exited ${StatusCode}`);
    samples.push(now() - t0);
  }
  return stats(samples);
}

// ---------- fabric measurements ----------

async function throughput(port: number, name: string): Promise<{ rps: number; stats: Stats; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = now() + THROUGHPUT_MS;
  const worker = async () => {
    while (now() < deadline) {
      try {
        latencies.push(await invokeHttp(port, name));
      } catch {
        errors++;
      }
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (now() - t0) / 1000;
  return { rps: Math.round(latencies.length / elapsed), stats: stats(latencies), errors };
}

async function agentStatus(nc: NatsConnection): Promise<{ stemCells: number; containers: number }> {
  const res = await nc.request(AGENT_PING_SUBJECT, "", { timeout: 2000 });
  return res.json<{ stemCells: number; containers: number }>();
}

/** Waits for the agent to report `target` stem cells again (it refills them in the background after each use). */
async function awaitStemCells(nc: NatsConnection, target: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = { stemCells: -1, containers: -1 };
  while (Date.now() < deadline) {
    last = await agentStatus(nc).catch(() => last);
    if (last.stemCells >= target) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`agent did not refill its ${target} stem cells (last status: ${JSON.stringify(last)})`);
}

async function firstCalls(f: Fabric, nc: NatsConnection, runtime: Runtime, isolation: string, stemTarget: number): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < FIRST_CALL_TRIALS; i++) {
    if (stemTarget > 0) await awaitStemCells(nc, stemTarget);
    const name = `first-${runtime === "python3" ? "py" : "js"}-${isolation}-${randomBytes(3).toString("hex")}`;
    await deploy(f.httpPort, name, runtime, isolation);
    samples.push(await invokeHttp(f.httpPort, name));
  }
  return stats(samples);
}

// ---------- report ----------

function fmt(s: Stats): string {
  return `p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms  (n=${s.n})`;
}

function printTable(rows: Row[]): void {
  const cols = ["metric", "runtime", "isolation", "value"] as const;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line([...cols]));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c] ?? ""))));
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const add = (metric: string, s: Stats, runtime?: string, isolation?: string) =>
    rows.push({ metric, runtime, isolation, value: fmt(s), stats: s });
  const docker = new Dockerode();
  console.log(`[bench] starting fabric (quick=${QUICK})`);
  const f = await startFabric();
  const nc = await connect({ servers: f.nats.url });
  let grpc: GrpcInvoker | undefined;
  try {
    grpc = await createGrpcInvoker(`127.0.0.1:${f.grpcPort}`);
    console.log("[bench] floors: NATS request-reply");
    add("floor: raw NATS request-reply", await natsFloor(nc));

    for (const runtime of ["python3", "nodejs"] as const) {
      const name = `warm-${runtime === "python3" ? "py" : "js"}-${randomBytes(3).toString("hex")}`;
      await deploy(f.httpPort, name, runtime, "runc");
      console.log(`[bench] warm latency ${runtime}`);
      add("warm invoke over HTTP", stats(await sample(N_WARM, () => invokeHttp(f.httpPort, name))), runtime, "runc");
      add("warm invoke over gRPC", stats(await sample(N_WARM, () => grpc!.invoke(name, { name: "bench" }))), runtime, "runc");
      add(
        "warm invoke over NATS request",
        stats(
          await sample(N_WARM, async () => {
            const t0 = now();
            const r = await nc.request(invokeSubject(name), '{"name":"bench"}', { timeout: 10_000 });
            const ms = now() - t0;
            if (!r.string().includes('"ok"')) throw new Error(r.string());
            return ms;
          }),
        ),
        runtime,
        "runc",
      );
      console.log(`[bench] throughput ${runtime} at ${CONCURRENCY} HTTP clients`);
      const tp = await throughput(f.httpPort, name);
      rows.push({ metric: `throughput, ${CONCURRENCY} HTTP clients`, runtime, isolation: "runc", value: `${tp.rps} inv/s  p50 ${tp.stats.p50.toFixed(2)} ms  p99 ${tp.stats.p99.toFixed(2)} ms  errors ${tp.errors}`, stats: tp.stats, extra: { rps: tp.rps, errors: tp.errors } });
    }

    for (const isolation of ["runc", "gvisor"] as const) {
      for (const runtime of ["python3", "nodejs"] as const) {
        console.log(`[bench] first call with a stem cell ${runtime}/${isolation}`);
        add("first call, new function, stem cell ready", await firstCalls(f, nc, runtime, isolation, 4), runtime, isolation);
      }
    }
    console.log("[bench] restarting the agent without stem cells");
    await restartAgent(f, { WEFT_STEM_CELLS: "0" });
    for (const isolation of ["runc", "gvisor"] as const) {
      for (const runtime of ["python3", "nodejs"] as const) {
        console.log(`[bench] first call, cold ${runtime}/${isolation}`);
        add("first call, new function, cold container", await firstCalls(f, nc, runtime, isolation, 0), runtime, isolation);
      }
    }
    for (const isolation of ["runc", "gvisor"] as const) {
      for (const runtime of ["python3", "nodejs"] as const) {
        console.log(`[bench] floor: container per call ${runtime}/${isolation}`);
        add("floor: container per call (create+start+run+wait+remove)", await containerPerCallFloor(docker, runtime, isolation), runtime, isolation);
      }
    }
  } finally {
    grpc?.close();
    await nc.close();
    for (const c of ["gateway", "agents", "controller"]) await stopProcess(f.procs.get(c));
    await f.nats.cleanup();
    keepAlive.destroy();
  }

  const natsP50 = rows[0]?.stats?.p50 ?? NaN;
  for (const r of rows) if (r.metric.startsWith("warm") && r.stats) r.extra = { ratioToNatsFloorP50: Math.round((r.stats.p50 / natsP50) * 10) / 10 };
  printTable(rows);
  const file = join(RESULTS, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  const report = {
    at: new Date().toISOString(),
    host: hostname(),
    cpus: cpus().length,
    loadavg: loadavg(),
    quick: QUICK,
    settings: { N_WARM, THROUGHPUT_MS, CONCURRENCY, FIRST_CALL_TRIALS, FLOOR_CONTAINER_TRIALS },
    targets: { warmHttpP50Ms: 2, warmHttpP99Ms: 10, throughputPerSec: 2000, firstCallWithStemMs: 100 },
    rows,
  };
  await writeFile(file, JSON.stringify(report, null, 2));
  console.log(`\n[bench] report written to ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
