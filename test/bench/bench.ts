// npm run bench: latency, throughput, CPU per call (per process, from /proc), 100 warm functions, overload and
// first-call figures of the fabric, with the floors measured in the same run (raw NATS request-reply, a raw
// container start, a container per call) and the peers' published figures quoted beside them. Prints tables and
// writes a JSON report. WEFT_BENCH_QUICK=1 runs a short version; WEFT_BENCH_SECTIONS picks sections.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { cpus, hostname, loadavg } from "node:os";
import { join, resolve } from "node:path";
import Dockerode from "dockerode";
import { MongoClient } from "mongodb";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort, startNats, type NatsServer } from "../harness/nats.js";
import { uniqueDbName } from "../harness/mongo.js";
import { startPrivateFerretDb, type PrivateMongo } from "../harness/ferretdb.js";
import { RUNTIME_ALIASES } from "../../shared/runtimes.js";
import { accountCpu, agentContainers, containerMemory, fabricGroups, snapshot, type CpuReport } from "./cpu-accounting.js";
import { AGENT_PING_SUBJECT, invokeSubject, RECORDS_CONSUMER, RECORDS_STREAM } from "../../shared/subjects.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { DEFAULT_SECCOMP_PROFILE, loadSeccompOption } from "../../agents/seccomp.js";
import { createGrpcInvoker, type GrpcInvoker } from "./grpc-client.js";
import { benchDriver, start as startRunnerContainer, type BenchRuntime } from "./runner-client.js";
import { chargeCpu, jetstreamJobCpu, natsRequestCpu, printCpuFloors, recordInsertCpu, type CpuFloor } from "./cpu-floors.js";
import { childrenMap, pidListeningOn, rssKb, withDescendants } from "./proc-stat.js";
import { startPathFloor, type PathFloor } from "./path-floor.js";
import { RawHttpClient } from "./raw-http.js";
import { soak, soakFigures, type SoakFigures } from "./soak.js";

const ROOT = resolve(import.meta.dirname, "../..");
const RESULTS = join(ROOT, "bench-results");
const QUICK = process.env.WEFT_BENCH_QUICK === "1";
const N_WARM = QUICK ? 200 : 2000;
const THROUGHPUT_MS = QUICK ? 3000 : 10_000;
const THROUGHPUT_WARMUP_MS = QUICK ? 1000 : 3000;
const CONCURRENCY = 64;
const FIRST_CALL_TRIALS = QUICK ? 2 : 5;
const FLOOR_CONTAINER_TRIALS = QUICK ? 3 : 8;
/** Calls the CPU-accounting mode charges (at CONCURRENCY clients). */
const CPU_CALLS = Number(process.env.WEFT_BENCH_CPU_CALLS ?? (QUICK ? 3000 : 10_000));
/**
 * Calls at CONCURRENCY before the CPU window opens: the first few thousand calls of a fresh process are when V8
 * compiles its hot functions (TurboFan, on background threads), a one-off cost that would otherwise be charged to
 * the calls measured.
 */
const CPU_WARMUP_CALLS = Number(process.env.WEFT_BENCH_CPU_WARMUP_CALLS ?? (QUICK ? 1000 : 5000));
/** Warm containers behind the path floor's stand-in agent (one call at a time each, as python3 runs). */
const PATH_FLOOR_CONTAINERS = Number(process.env.WEFT_BENCH_PATH_CONTAINERS ?? 2);
/** Calls each CPU floor charges (the parts alone: core NATS, a JetStream job, record inserts, the runner channel). */
const CPU_FLOOR_CALLS = QUICK ? 3000 : 10_000;
/**
 * `concurrency` of the functions the direct section measures a second time: calls one container runs at once, as a
 * Node.js or Python user would deploy an I/O-bound handler (OpenWhisk's intra-container concurrency, Cloud Run's
 * requests per instance). The worker is stopped and checked when its last call in flight has answered, not after
 * every call. 1 (the default of a deployed function, and Lambda's model) is measured first.
 */
const FUNCTION_CONCURRENCY = Number(process.env.WEFT_BENCH_FUNCTION_CONCURRENCY ?? 8);
/** The soak (issue 8: "stable for 60 s with no error and flat memory"): SOAK_SLICES slices of SOAK_SLICE_MS each. */
const SOAK_SLICE_MS = QUICK ? 1000 : 10_000;
const SOAK_SLICES = 6;
const MANY_FUNCTIONS = Number(process.env.WEFT_BENCH_FUNCTIONS ?? (QUICK ? 20 : 100));
const OVERLOAD_MS = QUICK ? 5000 : 30_000;
const OVERLOAD_SLICE_MS = QUICK ? 1000 : 3000;
const OVERLOAD_FACTOR = 4;
const SECTIONS = new Set((process.env.WEFT_BENCH_SECTIONS ?? "floors,path,warm,cpu,direct,soak,many,overload,first").split(",").map((x) => x.trim()));

/** Published or measured-beside figures of the systems users compare Weft with (issue 8), quoted as reference. */
const PEERS = [
  { system: "OpenFaaS of-watchdog, http mode, Flask", warmP50Ms: 0.72, throughput: "1,700/s", cpuMsPerCall: 0.9 },
  { system: "Nuclio processor, 1 Python worker", warmP50Ms: 0.27, throughput: "3,400/s", cpuMsPerCall: 0.37 },
  { system: "bare FastAPI/uvicorn in the container", warmP50Ms: 0.2, throughput: "7,100-7,700/s", cpuMsPerCall: null },
  { system: "raw NATS request-reply from Node", warmP50Ms: 0.28, throughput: "~20,000/s", cpuMsPerCall: null },
  { system: "Fission (published warm p50)", warmP50Ms: 9.1, throughput: null, cpuMsPerCall: null },
] as const;

/** Issue 8's targets, for the report. */
const TARGETS = {
  cpuMsPerCall: 1.0,
  warmHttpP50Ms: 0.7,
  warmHttpP99Ms: 3,
  grpcNatsWithinPctOfHttp: 10,
  ratioToBusFloor: 2.5,
  throughputPerSec: 2500,
  manyFunctionsThroughputRatio: 0.8,
  manyFunctionsHostMemoryGiB: 3,
  firstCallRuncMs: 25,
  firstCallGvisorMs: 50,
};

const FUNCTIONS = {
  python3: `def handler(event, context):\n    return {"hello": event.get("name")}\n`,
  nodejs: `exports.handler = async (event) => ({ hello: event.name })\n`,
} as const;
type Runtime = keyof typeof FUNCTIONS;
/** The images the agent runs these runtimes in (the aliases' current versions), as `npm run up` tags them. */
const IMAGES: Record<Runtime, string> = { python3: `weft/runtime-${RUNTIME_ALIASES.python3}:latest`, nodejs: `weft/runtime-${RUNTIME_ALIASES.nodejs}:latest` };
const ONE_SHOT: Record<Runtime, string[]> = {
  python3: ["python3", "-c", `${FUNCTIONS.python3}\nimport json,sys\nprint(json.dumps(handler(json.loads(sys.argv[1]), None)))`, '{"name":"x"}'],
  nodejs: ["node", "-e", `${FUNCTIONS.nodejs};exports.handler(JSON.parse(process.argv[1])).then(r=>console.log(JSON.stringify(r)))`, '{"name":"x"}'],
};

interface Stats { n: number; p50: number; p99: number; mean: number; min: number; max: number }
type Row = { metric: string; runtime?: string; isolation?: string; value: string; stats?: Stats; extra?: Record<string, number> };

/** The table's row for a CPU-per-call report (the summary reads `extra.msPerCall`). */
function cpuRow(metric: string, runtime: string, c: Pick<CpuReport, "totalMsPerCall" | "callsPerSec">): Row {
  return { metric, runtime, isolation: "runc", value: `${c.totalMsPerCall.toFixed(3)} ms  (${c.callsPerSec}/s)`, extra: { msPerCall: c.totalMsPerCall } };
}

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
  mongo: PrivateMongo;
  mongoPort: number;
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
    env: { ...process.env, ...env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? "info" },
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
  const nats = await startNats({ monitor: true });
  // A private FerretDB, so its CPU is the fabric's alone (the shared one serves every engineer's tests).
  const mongo = await startPrivateFerretDb();
  const mongoPort = Number(new URL(mongo.url).port);
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const env = {
    WEFT_NATS_URL: nats.url,
    WEFT_MONGO_URL: mongo.url,
    WEFT_MONGO_DB: uniqueDbName("bench"),
    WEFT_HTTP_PORT: String(httpPort),
    WEFT_GRPC_PORT: String(grpcPort),
    WEFT_AGENT_ID: `bench-${randomBytes(3).toString("hex")}`,
  };
  const procs = new Map<string, ChildProcess>();
  for (const c of ["controller", "agents", "gateway"]) procs.set(c, spawnComponent(c, env));
  await waitHealthy(httpPort);
  return { nats, mongo, mongoPort, httpPort, grpcPort, procs, env };
}

async function restartAgent(f: Fabric, extraEnv: Record<string, string>): Promise<void> {
  await stopProcess(f.procs.get("agents"));
  f.procs.set("agents", spawnComponent("agents", { ...f.env, ...extraEnv }));
  await waitHealthy(f.httpPort);
}

async function restartGateway(f: Fabric, extraEnv: Record<string, string>): Promise<void> {
  await stopProcess(f.procs.get("gateway"));
  f.procs.set("gateway", spawnComponent("gateway", { ...f.env, ...extraEnv }));
  await waitHealthy(f.httpPort);
}

/**
 * The direct sync path (WEFT_SYNC_PATH=direct: a core NATS request to an agent, no stored job): the same warm
 * latency, throughput and CPU per call as the queue path's rows, on a gateway restarted with it, then put back.
 * First the queue path's python3 CPU per call once more, on a gateway restarted and warmed the same way just
 * before: the pair then differs by the path alone, not by a fresh gateway or a larger records collection.
 */
async function measureDirectPath(f: Fabric, grpc: GrpcInvoker, docker: Dockerode, names: Partial<Record<Runtime, string>>, rows: Row[], cpuOut: Record<string, CpuReport & NatsMessagesPerCall & { recordsStored: number; recordsExpected: number }>): Promise<void> {
  console.log("[bench] the queue path's CPU per call again, beside the direct path's: a gateway restarted and warmed the same way");
  await restartGateway(f, {});
  await runCalls(2000, CONCURRENCY, () => invokeHttp(f.httpPort, names.python3!));
  const queue = (cpuOut["python3, queue path beside it"] = await cpuAccounting(f, docker, names.python3!));
  printCpu("python3, queue path beside the direct path", queue);
  rows.push(cpuRow(`direct sync path: the queue path beside it, CPU per call, all processes (${CPU_CALLS} calls)`, "python3", queue));
  console.log("[bench] the direct sync path: the gateway restarted with WEFT_SYNC_PATH=direct");
  await restartGateway(f, { WEFT_SYNC_PATH: "direct" });
  try {
    for (const runtime of ["python3", "nodejs"] as const) {
      const name = names[runtime]!;
      // A gateway just started is slow for its first few thousand calls (code not yet optimised).
      await runCalls(2000, CONCURRENCY, () => invokeHttp(f.httpPort, name));
      const tag = (metric: string) => `direct sync path: ${metric}`;
      if (runtime === "python3") {
        const http = stats(await sample(N_WARM, () => invokeHttp(f.httpPort, name)));
        rows.push({ metric: tag("warm invoke over HTTP"), runtime, isolation: "runc", value: fmt(http), stats: http });
        const viaGrpc = stats(await sample(N_WARM, () => grpc.invoke(name, { name: "bench" })));
        rows.push({ metric: tag("warm invoke over gRPC"), runtime, isolation: "runc", value: fmt(viaGrpc), stats: viaGrpc });
      }
      console.log(`[bench] direct sync path: throughput ${runtime} at ${CONCURRENCY} HTTP clients`);
      const tp = await throughput(f.httpPort, name);
      rows.push(throughputRow(tag(`throughput, ${CONCURRENCY} HTTP clients`), runtime, tp));
      if (runtime === "python3" || !QUICK) {
        console.log(`[bench] direct sync path: CPU accounting ${runtime}: ${CPU_CALLS} calls`);
        const c = (cpuOut[runtime] = await cpuAccounting(f, docker, name));
        printCpu(`${runtime}, direct sync path`, c);
        rows.push(cpuRow(tag(`CPU per call, all processes (${CPU_CALLS} calls)`), runtime, c));
      }
    }
    if (FUNCTION_CONCURRENCY > 1) await measureFunctionConcurrency(f, docker, rows, cpuOut);
  } finally {
    await restartGateway(f, {});
  }
}

/**
 * An echo function of `runtime` deployed on runc with `concurrency` (name `prefix-<random>`), called once and then
 * 2,000 times at CONCURRENCY clients: its containers started and a restarted gateway's hot path compiled.
 */
async function deployWarm(f: Fabric, prefix: string, runtime: Runtime, concurrency: number): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await deploy(f.httpPort, name, runtime, "runc", concurrency);
  await invokeHttp(f.httpPort, name);
  await runCalls(2000, CONCURRENCY, () => invokeHttp(f.httpPort, name));
  return name;
}

/**
 * The direct path again, with functions deployed at `concurrency` FUNCTION_CONCURRENCY: the same echo handlers, the
 * same 64 clients. Rows `direct sync path, concurrency N: ...`; CPU per call under `cpuDirect["<runtime>, concurrency N"]`.
 */
async function measureFunctionConcurrency(f: Fabric, docker: Dockerode, rows: Row[], cpuOut: Record<string, CpuReport & NatsMessagesPerCall & { recordsStored: number; recordsExpected: number }>): Promise<void> {
  const label = `concurrency ${FUNCTION_CONCURRENCY}`;
  for (const runtime of ["python3", "nodejs"] as const) {
    const name = await deployWarm(f, `conc-${runtime === "python3" ? "py" : "js"}`, runtime, FUNCTION_CONCURRENCY);
    const tag = (metric: string) => `direct sync path, ${label}: ${metric}`;
    console.log(`[bench] direct sync path, ${label}: throughput ${runtime} at ${CONCURRENCY} HTTP clients`);
    const tp = await throughput(f.httpPort, name);
    rows.push(throughputRow(tag(`throughput, ${CONCURRENCY} HTTP clients`), runtime, tp));
    console.log(`[bench] direct sync path, ${label}: CPU accounting ${runtime}: ${CPU_CALLS} calls`);
    const c = (cpuOut[`${runtime}, ${label}`] = await cpuAccounting(f, docker, name));
    printCpu(`${runtime}, direct sync path, ${label}`, c);
    rows.push(cpuRow(tag(`CPU per call, all processes (${CPU_CALLS} calls)`), runtime, c));
  }
}

interface SoakReport extends SoakFigures {
  runtime: Runtime;
  concurrency: number;
  clients: number;
  sliceMs: number;
  errors: number;
  latency: Stats;
  /** Records not yet stored at each slice's end (WEFT_RECORDS' consumer: pending and unacked): a growing backlog is memory growing somewhere. */
  recordsWaiting: number[];
}

/**
 * The soak section: on the direct sync path, an echo function of each runtime, deployed with concurrency 1 and
 * again with FUNCTION_CONCURRENCY, under CONCURRENCY clients for SOAK_SLICES x SOAK_SLICE_MS (after the same
 * warm-up as the throughput rows): throughput per slice, errors, and every fabric process's RSS at each slice's end.
 */
async function measureSoak(f: Fabric, docker: Dockerode, rows: Row[]): Promise<SoakReport[]> {
  const out: SoakReport[] = [];
  const groups = fabricGroups({ components: f.procs, natsPort: f.nats.port, mongoPort: f.mongoPort, agentId: f.env.WEFT_AGENT_ID!, docker });
  const nc = await connect({ servers: f.nats.url, name: "bench-soak-records" });
  const jsm = await jetstreamManager(nc);
  let recordsWaiting: number[] = [];
  const memory = async () => {
    const c = await jsm.consumers.info(RECORDS_STREAM, RECORDS_CONSUMER);
    recordsWaiting.push(c.num_pending + c.num_ack_pending);
    const sample: Record<string, number> = {};
    // dockerd and containerd are the host's (off the per-call path since the socket channel), not the fabric's.
    for (const [group, pids] of await groups.resolve()) {
      if (group !== "dockerd" && group !== "containerd") sample[group] = Math.round(pids.reduce((sum, p) => sum + rssKb(p), 0) / 102.4) / 10;
    }
    return sample;
  };
  await restartGateway(f, { WEFT_SYNC_PATH: "direct" });
  try {
    for (const runtime of ["python3", "nodejs"] as const) {
      for (const concurrency of [...new Set([1, FUNCTION_CONCURRENCY])]) {
        const name = await deployWarm(f, `soak-${runtime === "python3" ? "py" : "js"}-${concurrency}`, runtime, concurrency);
        await closedLoop(f.httpPort, name, THROUGHPUT_WARMUP_MS);
        console.log(`[bench] soak: ${runtime}, concurrency ${concurrency}, ${CONCURRENCY} clients for ${(SOAK_SLICES * SOAK_SLICE_MS) / 1000} s`);
        recordsWaiting = [];
        const run = await soak({ slices: SOAK_SLICES, sliceMs: SOAK_SLICE_MS, clients: CONCURRENCY, call: () => invokeHttp(f.httpPort, name), memory });
        const report: SoakReport = { runtime, concurrency, clients: CONCURRENCY, sliceMs: SOAK_SLICE_MS, errors: run.errors, latency: stats(run.latencies), recordsWaiting, ...soakFigures(run, SOAK_SLICE_MS) };
        out.push(report);
        console.log(`[bench] soak: ${report.rps}/s, slices ${report.sliceRps.join(" / ")}/s, errors ${report.errors}, RSS ${report.memoryFirstMiB} -> ${report.memoryLastMiB} MiB (${JSON.stringify(report.memoryGrowthMiB)}), records waiting ${recordsWaiting.join(" / ")}`);
        rows.push({
          metric: `soak, direct sync path, concurrency ${concurrency}: ${CONCURRENCY} HTTP clients for ${(SOAK_SLICES * SOAK_SLICE_MS) / 1000} s`,
          runtime,
          isolation: "runc",
          value: `${report.rps} inv/s (slowest ${SOAK_SLICE_MS / 1000} s ${report.slowestSliceRps}/s)  p99 ${report.latency.p99.toFixed(2)} ms  errors ${report.errors}  RSS x${report.memoryGrowth}`,
          stats: report.latency,
          extra: { rps: report.rps, slowestSliceRps: report.slowestSliceRps, errors: report.errors, memoryGrowth: report.memoryGrowth },
        });
      }
    }
  } finally {
    await restartGateway(f, {});
    await nc.close();
  }
  return out;
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

async function deploy(port: number, name: string, runtime: Runtime, isolation: string, concurrency = 1): Promise<void> {
  const res = await httpCall(port, "PUT", `/v1/functions/${name}`, JSON.stringify({ runtime, code: FUNCTIONS[runtime], isolation, concurrency }));
  if (res.status >= 300) throw new Error(`deploy ${name}: ${res.status} ${res.body}`);
}

/** The load generator's connections to each HTTP port (test/bench/raw-http.ts): at most CONCURRENCY each. */
const rawClients = new Map<number, RawHttpClient>();
const rawClient = (port: number): RawHttpClient => {
  let c = rawClients.get(port);
  if (!c) rawClients.set(port, (c = new RawHttpClient(port, CONCURRENCY)));
  return c;
};

async function invokeHttp(port: number, name: string): Promise<number> {
  const t0 = now();
  const res = await rawClient(port).post(`/v1/functions/${name}/invoke`, '{"name":"bench"}');
  const ms = now() - t0;
  if (res.status !== 200 || !res.body.includes('"ok"')) throw new Error(`invoke ${name}: ${res.status} ${res.body.toString().slice(0, 300)}`);
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

/**
 * The agent <-> runner floor: run frames straight to a warm python3 container as the agent starts it (weft-runner,
 * the Unix-socket channel, the between-calls checks and SIGSTOP), one at a time from this process: what a call
 * costs past the bus, with no gateway, NATS, pool or records.
 */
async function runnerChannelFloor(docker: Dockerode, cpuFloors?: CpuFloor[]): Promise<Stats> {
  const runtime = "python3.13" as const;
  const { driver, channelDir } = await benchDriver(docker, [runtime], "bench-channel");
  const c = await startRunnerContainer(docker, driver, channelDir, runtime, "runc", "runner, socket");
  try {
    const event = Buffer.from('{"name":"bench"}');
    let i = 0;
    const call = async () => {
      const t0 = now();
      c.client.send({ t: "run", id: String(i), ctx: { invocationId: `floor-${i++}` }, eventBytes: event.length }, event);
      const r = await c.client.next();
      const ms = now() - t0;
      if (r.ok !== true) throw new Error(`runner floor call failed: ${JSON.stringify(r)}`);
      return ms;
    };
    const latency = stats(await sample(N_WARM, call));
    if (cpuFloors) {
      // One call at a time: a warm container of concurrency 1, as python3 runs.
      const container = () => (c.shimPid === undefined ? [] : withDescendants(c.shimPid, childrenMap()));
      cpuFloors.push(await chargeCpu("runner channel (frames to a warm python3 container; its processes and shim)", container, CPU_FLOOR_CALLS, 1, async () => { await call(); }));
    }
    return latency;
  } finally {
    await c.stop();
  }
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

/** A throughput measurement as a row of the table (runc). */
function throughputRow(metric: string, runtime: Runtime, tp: { rps: number; stats: Stats; errors: number }): Row {
  return { metric, runtime, isolation: "runc", value: `${tp.rps} inv/s  p50 ${tp.stats.p50.toFixed(2)} ms  p99 ${tp.stats.p99.toFixed(2)} ms  errors ${tp.errors}`, stats: tp.stats, extra: { rps: tp.rps, errors: tp.errors } };
}

/**
 * Calls per second at CONCURRENCY clients over THROUGHPUT_MS, after THROUGHPUT_WARMUP_MS of the same load not
 * counted: steady state, once the pool has the containers the load needs and V8 has compiled the hot path.
 */
async function throughput(port: number, name: string): Promise<{ rps: number; stats: Stats; errors: number }> {
  await closedLoop(port, name, THROUGHPUT_WARMUP_MS);
  const t0 = now();
  const { latencies, errors } = await closedLoop(port, name, THROUGHPUT_MS);
  const elapsed = (now() - t0) / 1000;
  return { rps: Math.round(latencies.length / elapsed), stats: stats(latencies), errors };
}

async function closedLoop(port: number, name: string, ms: number): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = now() + ms;
  const worker = async () => {
    while (now() < deadline) {
      try {
        latencies.push(await invokeHttp(port, name));
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { latencies, errors };
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

/**
 * How long a stem cell has been up when the "stem cell ready" trials deploy: as a deploy finds one, idle, rather
 * than the instant its refill became ready. A gVisor sandbox's vDSO clock is calibrated at the sentry's second
 * timekeeper update, 1 s after it boots; until then every clock_gettime traps into the sentry, and node makes
 * ~800 of them loading and running a function (+20-30 ms). The "just started" rows measure that case.
 */
const STEM_IDLE_MS = 1500;

async function firstCalls(f: Fabric, nc: NatsConnection, runtime: Runtime, isolation: string, stemTarget: number, idleMs = 0): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < FIRST_CALL_TRIALS; i++) {
    if (stemTarget > 0) await awaitStemCells(nc, stemTarget);
    if (idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
    const name = `first-${runtime === "python3" ? "py" : "js"}-${isolation}-${randomBytes(3).toString("hex")}`;
    await deploy(f.httpPort, name, runtime, isolation);
    samples.push(await invokeHttp(f.httpPort, name));
  }
  return stats(samples);
}

/** `count` calls, `concurrency` at a time; resolves with their latencies (ms) and the failures. */
async function runCalls(count: number, concurrency: number, call: (i: number) => Promise<number>): Promise<{ latencies: number[]; errors: number; elapsedMs: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const t0 = now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        latencies.push(await call(i));
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, errors, elapsedMs: now() - t0 };
}

/** Create and start a container until it runs (no exec, no wait): what a container start costs at the least. */
async function containerStartFloor(docker: Dockerode, runtime: Runtime): Promise<Stats> {
  const samples: number[] = [];
  for (let i = 0; i < FLOOR_CONTAINER_TRIALS; i++) {
    const t0 = now();
    const c = await docker.createContainer({
      Image: IMAGES[runtime],
      Cmd: ["sleep", "30"],
      User: "65534:65534",
      HostConfig: { NetworkMode: "none", Runtime: "runc", SecurityOpt: [loadSeccompOption(DEFAULT_SECCOMP_PROFILE)] },
    });
    await c.start();
    samples.push(now() - t0);
    await c.remove({ force: true });
  }
  return stats(samples);
}

/** The path floor under load: throughput at CONCURRENCY clients and CPU per process per call. */
interface PathFloorLoad {
  runtime: BenchRuntime;
  containers: number;
  /** Calls each container runs at once (1 unless measured beside functions deployed with concurrency above 1). */
  concurrency?: number;
  rps: number;
  throughput: Stats;
  errors: number;
  cpu: CpuReport & NatsMessagesPerCall;
}

interface PathFloorReport extends PathFloorLoad {
  latency: Stats;
  busOnlyLatency: Stats;
  grpcLatency: Stats;
}

/** Weft's hops without Weft (test/bench/path-floor.ts): one client's latency, throughput and CPU per process per call. */
async function measurePathFloor(f: Fabric): Promise<PathFloorReport> {
  const floor: PathFloor = await startPathFloor(f.nats.url, PATH_FLOOR_CONTAINERS);
  try {
    const latency = stats(await sample(N_WARM, () => invokeHttp(floor.port, "path-floor")));
    const busOnlyLatency = stats(await sample(N_WARM, () => invokeHttp(floor.port, "bus-only")));
    const grpc = await createGrpcInvoker(`127.0.0.1:${floor.grpcPort}`);
    let grpcLatency: Stats;
    try {
      grpcLatency = stats(await sample(N_WARM, () => grpc.invoke("path-floor", { name: "bench" })));
    } finally {
      grpc.close();
    }
    return { latency, busOnlyLatency, grpcLatency, ...(await loadPathFloor(f, floor, "python3.13")) };
  } finally {
    await floor.stop();
  }
}

/** The path floor with another runtime's warm containers: its throughput and CPU per call only. */
async function measurePathFloorLoad(f: Fabric, runtime: BenchRuntime, concurrency = 1): Promise<PathFloorLoad> {
  const floor = await startPathFloor(f.nats.url, PATH_FLOOR_CONTAINERS, runtime, 0, concurrency);
  try {
    await sample(100, () => invokeHttp(floor.port, "path-floor"));
    return { ...(await loadPathFloor(f, floor, runtime)), concurrency };
  } finally {
    await floor.stop();
  }
}

async function loadPathFloor(f: Fabric, floor: PathFloor, runtime: BenchRuntime): Promise<PathFloorLoad> {
  const tp = await throughput(floor.port, "path-floor");
  const groups = {
    async resolve() {
      const children = childrenMap();
      return new Map<string, number[]>([
        ["gateway", [floor.gatewayPid]],
        ["agent", [floor.agentPid]],
        ["nats-server", [pidListeningOn(f.nats.port)].filter((p): p is number => p !== undefined)],
        ["containerd-shim", floor.shimPids],
        ["containers", floor.shimPids.flatMap((s) => withDescendants(s, children).filter((p) => p !== s))],
      ]);
    },
  };
  const cpu = await withNatsMessages(f.nats, () => accountCpu(groups, CPU_CALLS, CONCURRENCY, async () => {
    const r = await runCalls(CPU_CALLS, CONCURRENCY, () => invokeHttp(floor.port, "path-floor"));
    if (r.errors > 0) console.error(`[bench] path floor (${runtime}): ${r.errors} calls failed`);
  }));
  return { runtime, containers: PATH_FLOOR_CONTAINERS, rps: tp.rps, throughput: tp.stats, errors: tp.errors, cpu };
}

/** The table's rows for the path floor under load: its throughput and its CPU per call. */
function pathFloorLoadRows(p: PathFloorLoad, runtime: Runtime): Row[] {
  const at = p.concurrency && p.concurrency > 1 ? `concurrency ${p.concurrency}, ` : "";
  return [
    { metric: `floor: the same path without Weft, ${at}${CONCURRENCY} HTTP clients`, runtime, isolation: "runc", value: `${p.rps} inv/s  p50 ${p.throughput.p50.toFixed(2)} ms  p99 ${p.throughput.p99.toFixed(2)} ms  errors ${p.errors}`, stats: p.throughput, extra: { rps: p.rps } },
    cpuRow(`floor: the same path without Weft, ${at}CPU per call (${CPU_CALLS} calls)`, runtime, p.cpu),
  ];
}

/** Messages nats-server has taken in and sent out so far (its /varz), when its monitoring port is up. */
async function natsMessages(nats: NatsServer): Promise<{ in: number; out: number } | undefined> {
  if (!nats.monitorUrl) return undefined;
  try {
    const varz = (await (await fetch(`${nats.monitorUrl}/varz`)).json()) as { in_msgs: number; out_msgs: number };
    return { in: varz.in_msgs, out: varz.out_msgs };
  } catch {
    return undefined;
  }
}

/**
 * Runs a CPU window and counts nats-server's messages over it, per call: how many messages a call costs the bus
 * (the idle rate, measured just before inside the same window, is a handful a second and is not subtracted).
 */
async function withNatsMessages<R extends CpuReport>(nats: NatsServer, window: () => Promise<R>): Promise<R & NatsMessagesPerCall> {
  const before = await natsMessages(nats);
  const report = await window();
  const after = await natsMessages(nats);
  if (!before || !after) return report;
  const per = (n: number) => Math.round((n / report.calls) * 100) / 100;
  return { ...report, natsMessagesPerCall: { in: per(after.in - before.in), out: per(after.out - before.out) } };
}

interface NatsMessagesPerCall {
  /** Messages nats-server took in and sent out over the CPU window, per call (its /varz). */
  natsMessagesPerCall?: { in: number; out: number };
}

type RecordsCheck = { recordsStored: number; recordsExpected: number; recordsLate: number; recordMessagesPerCall: number };

/** Messages WEFT_RECORDS has taken so far (its last sequence): over a window, how well the records batched. */
async function recordMessages(natsUrl: string): Promise<number> {
  const nc = await connect({ servers: natsUrl, name: "bench-records-seq" });
  try {
    return (await (await jetstreamManager(nc)).streams.info(RECORDS_STREAM)).state.last_seq;
  } finally {
    await nc.close();
  }
}

async function cpuAccounting(f: Fabric, docker: Dockerode, name: string): Promise<CpuReport & RecordsCheck & NatsMessagesPerCall> {
  const groups = fabricGroups({ components: f.procs, natsPort: f.nats.port, mongoPort: f.mongoPort, agentId: f.env.WEFT_AGENT_ID!, docker });
  const mongo = await MongoClient.connect(f.mongo.url);
  try {
    const warmup = await runCalls(CPU_WARMUP_CALLS, CONCURRENCY, () => invokeHttp(f.httpPort, name));
    if (warmup.errors > 0) console.error(`[bench] cpu accounting: ${warmup.errors} warm-up calls failed`);
    await recordsQuiet(f.nats.url);
    const seq0 = await recordMessages(f.nats.url);
    const invocations = mongo.db(f.env.WEFT_MONGO_DB).collection("invocations");
    const stored = () => invocations.countDocuments({ functionName: name });
    const before = await settledCount(stored);
    let ok = 0;
    let after = before;
    // The window ends when every answered call's final record is in MongoDB (or after a minute): the records
    // path is part of a call's cost, and a controller lagging behind the calls would otherwise hide its share.
    const report = await withNatsMessages(f.nats, () => accountCpu(groups, CPU_CALLS, CONCURRENCY, async () => {
      const r = await runCalls(CPU_CALLS, CONCURRENCY, () => invokeHttp(f.httpPort, name));
      ok = r.latencies.length;
      if (r.errors > 0) console.error(`[bench] cpu accounting: ${r.errors} calls failed`);
    }, undefined, () => recordsQuiet(f.nats.url)));
    const inWindow = await stored();
    const messages = (await recordMessages(f.nats.url)) - seq0;
    after = await recordsLanded(stored, before + ok);
    return { ...report, recordsStored: after - before, recordsExpected: ok, recordsLate: after - inWindow, recordMessagesPerCall: Math.round((messages / Math.max(1, ok)) * 1000) / 1000 };
  } finally {
    await mongo.close();
  }
}

/**
 * Waits, inside a CPU window, until the records path is quiet: the controller's records consumer has caught up with
 * the stream, and the stream has taken no new message for STREAM_QUIET_MS (the agents publish a call's final record
 * as it ends). Cheap NATS requests only: counting records is a query that scans the collection in FerretDB, and done
 * inside the window it cost more than the records it counted (a count every 20 ms once caught up).
 */
async function recordsQuiet(natsUrl: string): Promise<void> {
  const nc = await connect({ servers: natsUrl, name: "bench-records-quiet" });
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 60_000;
    let lastSeq = -1;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      const [c, st] = await Promise.all([jsm.consumers.info(RECORDS_STREAM, RECORDS_CONSUMER), jsm.streams.info(RECORDS_STREAM)]);
      if (st.state.last_seq !== lastSeq) [lastSeq, quietSince] = [st.state.last_seq, Date.now()];
      const caughtUp = c.num_pending === 0 && c.num_ack_pending === 0 && c.delivered.stream_seq >= st.state.last_seq;
      if (caughtUp && Date.now() - quietSince >= STREAM_QUIET_MS) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await nc.close();
  }
}
const STREAM_QUIET_MS = 100;

/** Counts stored final records (after a CPU window) until `target` is reached or a minute passes; the last count. */
async function recordsLanded(count: () => Promise<number>, target: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  let n = await count();
  while (n < target && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    n = await count();
  }
  return n;
}

/** A count once it stops moving (records of earlier sections may still be landing). */
async function settledCount(count: () => Promise<number>): Promise<number> {
  let last = await count();
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await count();
    if (now === last) return now;
    last = now;
  }
}

function printCpu(label: string, r: CpuReport & Partial<RecordsCheck> & NatsMessagesPerCall): void {
  console.log(`\n[bench] CPU per call, ${label} (load average ${r.loadavg.join(" → ")}): ${r.calls} calls at ${r.concurrency} clients, ${r.callsPerSec}/s; total ${r.totalMsPerCall} ms (load generator ${r.loadGeneratorMsPerCall} ms, not counted; the rest of the machine ${r.outsideMsPerCall} ms, steal ${r.stealMsPerCall} ms)${r.recordsExpected === undefined ? "" : `; final records stored ${r.recordsStored} of ${r.recordsExpected} answered calls, the records path quiet ${r.settleMs} ms after the last answer (inside the window), ${r.recordsLate} stored after it; ${r.recordMessagesPerCall} WEFT_RECORDS messages per call`}${r.natsMessagesPerCall ? `; nats-server took ${r.natsMessagesPerCall.in} messages in and sent ${r.natsMessagesPerCall.out} out per call` : ""}`);
  for (const row of r.rows) {
    console.log(`  ${row.process.padEnd(16)} ${row.msPerCall.toFixed(3).padStart(7)} ms  ${String(row.share).padStart(5)} %  (raw ${row.rawMsPerCall.toFixed(3)} ms, ${row.pids} pids${row.bornPids ? ` (${row.bornPids} new in the window)` : ""}; ${row.syscallsPerCall} r/w syscalls, ${row.switchesPerCall} switches per call)`);
  }
}

interface ManyFunctionsReport {
  functions: number;
  rps: number;
  oneFunctionRps: number;
  ratio: number;
  errors: number;
  coldStartsDuringLoad: number;
  /** CPU per call of each process group over the load, idle included. */
  cpuMsPerCall: Record<string, number>;
  stats: Stats;
  memory: ReturnType<typeof containerMemory>;
  hostMemoryFor100GiB: number;
  hostPssFor100GiB: number;
}

/** CONCURRENCY clients until `deadline`, each call to the next of `names` in turn; `onBody` sees each good answer. */
async function roundRobin(port: number, names: readonly string[], deadline: number, onBody: (body: string) => void = () => {}): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let turn = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (now() < deadline) {
      const name = names[turn++ % names.length]!;
      const s = now();
      try {
        // The same thin load generator as the one-function throughput this is compared with (Node's http client
        // costs about as much CPU per call as the gateway: with it, the ratio measured the client, 0.35 x).
        const res = await rawClient(port).post(`/v1/functions/${name}/invoke`, '{"name":"bench"}');
        const body = res.body.toString();
        if (res.status !== 200 || !body.includes('"ok"')) throw new Error(body);
        onBody(body);
        latencies.push(now() - s);
      } catch {
        errors++;
      }
    }
  }));
  return { latencies, errors };
}

interface ManyFunctionsFloor {
  functions: number;
  rps: number;
  oneFunctionRps: number;
  ratio: number;
  errors: number;
}

/**
 * The path floor's throughput at CONCURRENCY clients: the `path` section's figure when this run measured it (the
 * same floor, python3), else measured now on a floor of its own.
 */
async function pathFloorThroughput(f: Fabric, measured: number | undefined): Promise<number> {
  if (measured !== undefined) return measured;
  const floor = await startPathFloor(f.nats.url, PATH_FLOOR_CONTAINERS);
  try {
    return (await throughput(floor.port, "path-floor")).rps;
  } finally {
    await floor.stop();
  }
}

/**
 * The path floor with MANY_FUNCTIONS warm containers, each call pinned to the container of the function it names
 * (round-robin over them, as the many-functions load), against the same floor with PATH_FLOOR_CONTAINERS shared
 * by one function: what 100 functions cost this topology by themselves (more containers on the same cores, each
 * woken in turn), the floor of the many-functions ratio.
 */
async function manyFunctionsFloor(f: Fabric, oneFunctionFloorRps: number | undefined): Promise<ManyFunctionsFloor> {
  const oneFunctionRps = await pathFloorThroughput(f, oneFunctionFloorRps);
  const floor = await startPathFloor(f.nats.url, MANY_FUNCTIONS);
  try {
    const names = Array.from({ length: MANY_FUNCTIONS }, (_, i) => `many-floor-${i}`);
    await roundRobin(floor.port, names, now() + THROUGHPUT_WARMUP_MS);
    const t0 = now();
    const { latencies, errors } = await roundRobin(floor.port, names, now() + THROUGHPUT_MS);
    const rps = Math.round(latencies.length / ((now() - t0) / 1000));
    return { functions: MANY_FUNCTIONS, rps, oneFunctionRps, ratio: Math.round((rps / oneFunctionRps) * 100) / 100, errors };
  } finally {
    await floor.stop();
  }
}

/** N functions, each warmed by one call, then round-robin load across all of them at CONCURRENCY clients. */
async function manyFunctions(f: Fabric, docker: Dockerode, oneFunctionRps: number): Promise<ManyFunctionsReport> {
  const tag = randomBytes(2).toString("hex");
  // Containers that take a function's code from a stem cell keep the stem cell's labels: the scenario's containers
  // are those the agent did not have before it.
  const before = new Set((await agentContainers(docker, f.env.WEFT_AGENT_ID!)).map((c) => c.id));
  const names = Array.from({ length: MANY_FUNCTIONS }, (_, i) => `many-${tag}-${i}`);
  const deployOne = async (name: string) => {
    const res = await httpCall(f.httpPort, "PUT", `/v1/functions/${name}`, JSON.stringify({ runtime: "python3", code: FUNCTIONS.python3, isolation: "runc", limits: { memoryMb: 128 } }));
    if (res.status >= 300) throw new Error(`deploy ${name}: ${res.status} ${res.body}`);
  };
  await runCalls(names.length, 4, async (i) => { await deployOne(names[i]!); return 0; });
  console.log(`[bench] ${names.length} functions deployed; warming each`);
  const warm = await runCalls(names.length, 4, (i) => invokeHttp(f.httpPort, names[i]!));
  if (warm.errors > 0) throw new Error(`${warm.errors} functions did not warm`);
  // Counted after the same load has run THROUGHPUT_WARMUP_MS, as one function's throughput is.
  await roundRobin(f.httpPort, names, now() + THROUGHPUT_WARMUP_MS);
  let cold = 0;
  // CPU per call of each process over the load (raw: idle included), to compare with one function's.
  const groups = await fabricGroups({ components: f.procs, natsPort: f.nats.port, mongoPort: f.mongoPort, agentId: f.env.WEFT_AGENT_ID!, docker }).resolve();
  const mongo = await MongoClient.connect(f.mongo.url);
  const invocations = mongo.db(f.env.WEFT_MONGO_DB).collection("invocations");
  const stored = () => invocations.countDocuments({ functionName: { $in: names } });
  const storedBefore = await settledCount(stored);
  const cpu0 = snapshot(groups);
  const t0 = now();
  const { latencies, errors } = await roundRobin(f.httpPort, names, now() + THROUGHPUT_MS, (body) => {
    if (body.includes('"coldStart":true')) cold++;
  });
  const rps = Math.round(latencies.length / ((now() - t0) / 1000));
  // As in the CPU section, the window ends when the records path is quiet; the records are counted after it.
  await recordsQuiet(f.nats.url);
  const cpu1 = snapshot(groups);
  const inWindow = await stored();
  const landed = await recordsLanded(stored, storedBefore + latencies.length);
  await mongo.close();
  console.log(`[bench] ${names.length} functions: final records stored ${landed - storedBefore} of ${latencies.length} answered calls (${landed - inWindow} after the CPU window)`);
  const cpuMsPerCall = Object.fromEntries([...cpu1].map(([g, ms]) => [g, Math.round(((ms - (cpu0.get(g) ?? 0)) / Math.max(1, latencies.length)) * 1000) / 1000]));
  console.log(`[bench] ${names.length} functions: CPU per call by process (raw) ${JSON.stringify(cpuMsPerCall)}`);
  const memory = containerMemory((await agentContainers(docker, f.env.WEFT_AGENT_ID!)).filter((c) => !before.has(c.id)));
  console.log(`[bench] ${names.length} functions: memory per container by process (MiB; RSS mean/max, anonymous mean/max) ${JSON.stringify(memory.byProcess)}`);
  return {
    functions: names.length,
    rps,
    oneFunctionRps,
    ratio: Math.round((rps / oneFunctionRps) * 100) / 100,
    errors,
    coldStartsDuringLoad: cold,
    cpuMsPerCall,
    stats: stats(latencies),
    memory,
    hostMemoryFor100GiB: Math.round(((memory.meanMiB * 100) / 1024) * 100) / 100,
    hostPssFor100GiB: Math.round(((memory.pssMeanMiB * 100) / 1024) * 100) / 100,
  };
}

/**
 * The overload floor: the path floor (Weft's hops without Weft) behind the least shedding there is (a stand-in
 * gateway answering 429 at once over an in-flight bound, sized as the sized run sizes Weft's), at OVERLOAD_FACTOR
 * times its own throughput, from the same load generator: how fast this machine can shed at that overload.
 */
async function overloadFloor(f: Fabric, oneFunctionFloorRps: number | undefined): Promise<OverloadReport & { maxInflight: number }> {
  const sustainable = await pathFloorThroughput(f, oneFunctionFloorRps);
  const maxInflight = Math.max(8, Math.round((sustainable * SIZED_CALL_MS) / 1000));
  const floor = await startPathFloor(f.nats.url, PATH_FLOOR_CONTAINERS, "python3.13", maxInflight);
  try {
    await runCalls(2000, CONCURRENCY, () => invokeHttp(floor.port, "path-floor"));
    const before = stats(await sample(100, () => invokeHttp(floor.port, "path-floor"))).p50;
    return { ...(await overload(floor.port, "path-floor", sustainable, before)), maxInflight };
  } finally {
    await floor.stop();
  }
}

/** The call time the sized overload run sizes the gateway's in-flight bound for (README: calls/s x seconds per call). */
const SIZED_CALL_MS = 30;

/** When a tail built up: the p99 of admitted calls and of 429s by the slice of the schedule they were sent in. */
function printSlices(o: OverloadReport): void {
  const cell = (ms: number) => (Number.isNaN(ms) ? "-" : ms.toFixed(0));
  console.log(`[bench] overload by ${OVERLOAD_SLICE_MS / 1000} s sent (from: admitted p99 / 429 p99 ms): ${o.slices.map((sl) => `${sl.fromMs / 1000}s ${cell(sl.admittedP99Ms)}/${cell(sl.shedP99Ms)}`).join(", ")}`);
}

function overloadRow(label: string, o: OverloadReport): Row {
  const failures = o.failed ? ` (${Object.entries(o.failures).map(([k, v]) => `${k}: ${v}`).join(", ")})` : "";
  return {
    metric: `${label} (${o.offeredPerSec}/s offered, ${o.sentPerSec}/s sent)`,
    runtime: "python3",
    isolation: "runc",
    value: `admitted ${o.admitted} p50 ${o.admittedStats.p50.toFixed(1)} p99 ${o.admittedStats.p99.toFixed(1)} ms; shed ${o.shed} (429, p99 ${o.shedStats.p99.toFixed(1)} ms); 202 ${o.running}; failed ${o.failed}${failures}; after: p50 ${o.recoveryP50Ms.toFixed(2)} ms; waited in the load generator for one of its ${o.peakConnections} connections: p99 ${o.clientQueueStats.p99.toFixed(1)} ms; sent after the first ${OVERLOAD_SLICE_MS / 1000} s: admitted p99 ${o.steadyAdmittedStats.p99.toFixed(1)} ms, 429 p99 ${o.steadyShedStats.p99.toFixed(1)} ms`,
    stats: o.admittedStats,
  };
}

interface OverloadReport {
  offeredPerSec: number;
  sentPerSec: number;
  durationMs: number;
  sent: number;
  admitted: number;
  shed: number;
  retryAfterSeen: number;
  running: number;
  failed: number;
  /** What the failed calls got: an HTTP status with the error code of its body, or the client's socket error. */
  failures: Record<string, number>;
  admittedStats: Stats;
  shedStats: Stats;
  /** Warm p50 at one client right after the overload ended, and the one before it. */
  recoveryP50Ms: number;
  beforeP50Ms: number;
  /**
   * How long requests waited in the load generator for a free connection (every connection holding a request the
   * gateway had not answered), part of each latency above; and the most connections it had open.
   */
  clientQueueStats: Stats;
  peakConnections: number;
  /** The same for the calls sent after the first OVERLOAD_SLICE_MS: the overload's steady state, past its onset. */
  steadyAdmittedStats: Stats;
  steadyShedStats: Stats;
  /** p99s by when the call was sent, OVERLOAD_SLICE_MS at a time. */
  slices: Array<{ fromMs: number; admittedP99Ms: number; shedP99Ms: number; answered: number }>;
}

/**
 * Open-loop load at OVERLOAD_FACTOR times the sustainable rate (the one-function throughput) for OVERLOAD_MS: a call
 * is sent on schedule whatever the answers. Admitted calls must all end ok, the rest must be 429s (with
 * Retry-After), and one client right afterwards must see the warm latency again.
 */
async function overload(port: number, name: string, sustainable: number, beforeP50Ms: number): Promise<OverloadReport> {
  const rate = sustainable * OVERLOAD_FACTOR;
  const client = new RawHttpClient(port, 4096);
  const queued: number[] = [];
  /**
   * Per OVERLOAD_SLICE_MS of the send schedule: the latency of every admitted call and of every 429, to see when a
   * tail built up; the whole run's figures are these put together.
   */
  const slices: Array<{ admitted: number[]; shed: number[] }> = [];
  let retryAfter = 0, running = 0, failed = 0, sent = 0;
  const failures: Record<string, number> = {};
  const inflight: Promise<void>[] = [];
  const one = async (): Promise<void> => {
    const t0 = now();
    const slice = (slices[Math.floor((t0 - start) / OVERLOAD_SLICE_MS)] ??= { admitted: [], shed: [] });
    try {
      const res = await client.post(`/v1/functions/${name}/invoke`, '{"name":"bench"}');
      const ms = now() - t0;
      queued.push(res.queuedMs);
      const text = res.body.toString();
      if (res.status === 200 && text.includes('"ok"')) slice.admitted.push(ms);
      else if (res.status === 429) { slice.shed.push(ms); if (res.retryAfter) retryAfter++; }
      else if (res.status === 202) running++;
      else {
        failed++;
        const code = /"code":"([A-Z_]+)"/.exec(text)?.[1];
        const why = `${res.status}${code ? ` ${code}` : ""}`;
        failures[why] = (failures[why] ?? 0) + 1;
      }
    } catch (err) {
      failed++;
      const why = `client ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      failures[why] = (failures[why] ?? 0) + 1;
    }
  };
  const start = now();
  const end = start + OVERLOAD_MS;
  // A tick every 5 ms sends what the schedule owes by then.
  while (now() < end) {
    const owed = Math.floor(((now() - start) / 1000) * rate) - sent;
    for (let i = 0; i < owed; i++) { sent++; inflight.push(one()); }
    await new Promise((r) => setTimeout(r, 5));
  }
  const sendMs = now() - start;
  await Promise.all(inflight);
  client.close();
  const recovery = await sample(50, () => invokeHttp(port, name));
  // Slices no call was sent in stay holes in the array: read as empty.
  const latencies = (from: number, kind: "admitted" | "shed") => slices.slice(from).flatMap((sl) => sl?.[kind] ?? []);
  const admitted = latencies(0, "admitted");
  const shedLat = latencies(0, "shed");
  return {
    offeredPerSec: Math.round(rate),
    sentPerSec: Math.round(sent / (sendMs / 1000)),
    durationMs: OVERLOAD_MS,
    sent,
    admitted: admitted.length,
    shed: shedLat.length,
    retryAfterSeen: retryAfter,
    running,
    failed,
    failures,
    admittedStats: stats(admitted),
    shedStats: stats(shedLat),
    recoveryP50Ms: stats(recovery).p50,
    beforeP50Ms,
    clientQueueStats: stats(queued),
    peakConnections: client.peakConnections,
    steadyAdmittedStats: stats(latencies(1, "admitted")),
    steadyShedStats: stats(latencies(1, "shed")),
    slices: slices.map((sl, i) => ({ fromMs: i * OVERLOAD_SLICE_MS, admittedP99Ms: stats(sl?.admitted ?? []).p99, shedP99Ms: stats(sl?.shed ?? []).p99, answered: (sl?.admitted.length ?? 0) + (sl?.shed.length ?? 0) })),
  };
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
  const cpu: Record<string, CpuReport & NatsMessagesPerCall & { recordsStored: number; recordsExpected: number }> = {};
  const cpuDirect: typeof cpu = {};
  let many: ManyFunctionsReport | undefined;
  const cpuFloors: CpuFloor[] = [];
  let over: OverloadReport | undefined;
  let overSized: (OverloadReport & { maxInflight: number }) | undefined;
  let pathFloor: PathFloorReport | undefined;
  let pathFloorNodejs: PathFloorLoad | undefined;
  const pathFloorConcurrent: Partial<Record<Runtime, PathFloorLoad>> = {};
  let soaks: SoakReport[] = [];
  let manyFloor: ManyFunctionsFloor | undefined;
  let overFloor: (OverloadReport & { maxInflight: number }) | undefined;
  const docker = new Dockerode();
  console.log(`[bench] starting fabric (quick=${QUICK}, sections=${[...SECTIONS].join(",")})`);
  const f = await startFabric();
  const nc = await connect({ servers: f.nats.url });
  let grpc: GrpcInvoker | undefined;
  try {
    grpc = await createGrpcInvoker(`127.0.0.1:${f.grpcPort}`);
    console.log("[bench] floors: NATS request-reply, raw container start");
    add("floor: raw NATS request-reply", await natsFloor(nc));
    if (SECTIONS.has("floors") || SECTIONS.has("warm")) {
      add("floor: runner channel round trip (agent <-> warm runner, no NATS)", await runnerChannelFloor(docker, SECTIONS.has("floors") ? cpuFloors : undefined), "python3", "runc");
    }
    if (SECTIONS.has("floors")) {
      console.log("[bench] CPU floors: core NATS, a JetStream job, record inserts");
      cpuFloors.unshift(
        await natsRequestCpu(f.nats.url, f.nats.port, CPU_FLOOR_CALLS, CONCURRENCY),
        await jetstreamJobCpu(f.nats.url, f.nats.port, CPU_FLOOR_CALLS, CONCURRENCY),
        await recordInsertCpu(f.mongo.url, f.mongoPort, CPU_FLOOR_CALLS, 20),
      );
      printCpuFloors(cpuFloors);
    }
    if (SECTIONS.has("floors")) add("floor: raw container start (create+start)", await containerStartFloor(docker, "python3"), "python3", "runc");

    if (SECTIONS.has("path")) {
      console.log(`[bench] path floor: HTTP -> Node -> core NATS -> Node -> ${PATH_FLOOR_CONTAINERS} warm python3 containers, no Weft`);
      pathFloor = await measurePathFloor(f);
      const p = pathFloor;
      add("floor: the same path without Weft, over HTTP", p.latency, "python3", "runc");
      add("floor: the same path without Weft, over gRPC", p.grpcLatency, "python3", "runc");
      add("floor: the same path without Weft or the container (Node and NATS hops only)", p.busOnlyLatency);
      rows.push(...pathFloorLoadRows(p, "python3"));
      printCpu("path floor (no Weft)", p.cpu);
      console.log(`[bench] path floor with ${PATH_FLOOR_CONTAINERS} warm nodejs containers: throughput and CPU per call`);
      const n = (pathFloorNodejs = await measurePathFloorLoad(f, "nodejs20"));
      rows.push(...pathFloorLoadRows(n, "nodejs"));
      printCpu("path floor, nodejs (no Weft)", n.cpu);
      if (FUNCTION_CONCURRENCY > 1) {
        for (const runtime of ["python3", "nodejs"] as const) {
          console.log(`[bench] path floor with ${PATH_FLOOR_CONTAINERS} warm ${runtime} containers, ${FUNCTION_CONCURRENCY} calls at once each: throughput and CPU per call`);
          const c = (pathFloorConcurrent[runtime] = await measurePathFloorLoad(f, runtime === "python3" ? "python3.13" : "nodejs20", FUNCTION_CONCURRENCY));
          rows.push(...pathFloorLoadRows(c, runtime));
          printCpu(`path floor, ${runtime}, concurrency ${FUNCTION_CONCURRENCY} (no Weft)`, c.cpu);
        }
      }
    }

    const rps: Partial<Record<Runtime, number>> = {};
    const warmP50: Partial<Record<Runtime, number>> = {};
    const warmNames: Partial<Record<Runtime, string>> = {};
    for (const runtime of ["python3", "nodejs"] as const) {
      const name = `warm-${runtime === "python3" ? "py" : "js"}-${randomBytes(3).toString("hex")}`;
      warmNames[runtime] = name;
      await deploy(f.httpPort, name, runtime, "runc");
      await invokeHttp(f.httpPort, name);
      if (SECTIONS.has("warm")) {
        console.log(`[bench] warm latency ${runtime}`);
        const http = stats(await sample(N_WARM, () => invokeHttp(f.httpPort, name)));
        warmP50[runtime] = http.p50;
        add("warm invoke over HTTP", http, runtime, "runc");
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
        rps[runtime] = tp.rps;
        rows.push(throughputRow(`throughput, ${CONCURRENCY} HTTP clients`, runtime, tp));
      }
      if (SECTIONS.has("cpu") && (runtime === "python3" || !QUICK)) {
        console.log(`[bench] CPU accounting ${runtime}: ${CPU_CALLS} calls`);
        cpu[runtime] = await cpuAccounting(f, docker, name);
        printCpu(runtime, cpu[runtime]);
        rows.push(cpuRow(`CPU per call, all processes (${CPU_CALLS} calls)`, runtime, cpu[runtime]));
      }
    }

    if (SECTIONS.has("direct")) await measureDirectPath(f, grpc, docker, warmNames, rows, cpuDirect);
    if (SECTIONS.has("soak")) soaks = await measureSoak(f, docker, rows);

    if (SECTIONS.has("many")) {
      const base = rps.python3 ?? (await throughput(f.httpPort, warmNames.python3!)).rps;
      console.log(`[bench] ${MANY_FUNCTIONS} functions, each warm, round-robin`);
      console.log(`[bench] floor: ${MANY_FUNCTIONS} warm containers without Weft, each call pinned to its function's, round-robin`);
      manyFloor = await manyFunctionsFloor(f, pathFloor?.rps);
      rows.push({ metric: `floor: the same path without Weft, ${manyFloor.functions} functions round-robin, ${CONCURRENCY} clients`, runtime: "python3", isolation: "runc", value: `${manyFloor.rps} inv/s = ${manyFloor.ratio} x one function's ${manyFloor.oneFunctionRps}/s; errors ${manyFloor.errors}`, extra: { rps: manyFloor.rps, ratio: manyFloor.ratio } });
      many = await manyFunctions(f, docker, base);
      rows.push({ metric: `${many.functions} warm functions, round-robin, ${CONCURRENCY} clients`, runtime: "python3", isolation: "runc", value: `${many.rps} inv/s = ${many.ratio} x one function; errors ${many.errors}; cold during load ${many.coldStartsDuringLoad}`, stats: many.stats, extra: { rps: many.rps, ratio: many.ratio } });
      rows.push({ metric: "host memory per warm container (runner + shim RSS)", runtime: "python3", isolation: "runc", value: `RSS ${many.memory.meanMiB} MiB (shim ${many.memory.shimMeanMiB}), PSS ${many.memory.pssMeanMiB} MiB, over ${many.memory.containers} containers; x100 = ${many.hostMemoryFor100GiB} GiB RSS, ${many.hostPssFor100GiB} GiB PSS`, extra: { meanMiB: many.memory.meanMiB } });
    }

    if (SECTIONS.has("overload")) {
      const base = rps.python3 ?? (await throughput(f.httpPort, warmNames.python3!)).rps;
      const before = warmP50.python3 ?? stats(await sample(100, () => invokeHttp(f.httpPort, warmNames.python3!))).p50;
      console.log(`[bench] overload: ${OVERLOAD_FACTOR} x ${base}/s for ${OVERLOAD_MS} ms`);
      over = await overload(f.httpPort, warmNames.python3!, base, before);
      rows.push(overloadRow(`overload ${OVERLOAD_FACTOR}x, WEFT_MAX_INFLIGHT as deployed`, over));
      printSlices(over);
      // The same with the gateway's in-flight bound sized as the README says (calls/s x the seconds a call may
      // take), for a call that should take at most SIZED_CALL_MS here: what an operator of this machine would set.
      const sized = Math.max(8, Math.round((base * SIZED_CALL_MS) / 1000));
      console.log(`[bench] overload again, the gateway's WEFT_MAX_INFLIGHT sized ${sized} (${base}/s x ${SIZED_CALL_MS} ms)`);
      await restartGateway(f, { WEFT_MAX_INFLIGHT: String(sized) });
      // A gateway just started answers its first few thousand calls slowly (its code not yet compiled hot): warm it
      // first, or the first seconds of this run measure the restart, not the bound.
      await runCalls(2000, CONCURRENCY, () => invokeHttp(f.httpPort, warmNames.python3!));
      overSized = { ...(await overload(f.httpPort, warmNames.python3!, base, before)), maxInflight: sized };
      rows.push(overloadRow(`overload ${OVERLOAD_FACTOR}x, WEFT_MAX_INFLIGHT sized ${sized}`, overSized));
      printSlices(overSized);
      await restartGateway(f, {});
      console.log(`[bench] floor: the same overload on the path floor, its in-flight bound sized the same way`);
      overFloor = await overloadFloor(f, pathFloor?.rps);
      rows.push(overloadRow(`floor: overload ${OVERLOAD_FACTOR}x, the same path without Weft, in-flight bound sized ${overFloor.maxInflight}`, overFloor));
      printSlices(overFloor);
    }

    if (SECTIONS.has("first")) {
      // After `many` the agent's memory budget is full of warm containers and its stem cells cannot refill: a
      // fresh agent (it removes what its predecessor left) starts this section from empty, as a new host would.
      if (SECTIONS.has("many")) {
        console.log("[bench] restarting the agent: the warm functions of the last sections fill its memory");
        await restartAgent(f, {});
      }
      for (const isolation of ["runc", "gvisor"] as const) {
        for (const runtime of ["python3", "nodejs"] as const) {
          console.log(`[bench] first call with a stem cell ${runtime}/${isolation}`);
          add("first call, new function, stem cell ready", await firstCalls(f, nc, runtime, isolation, 4, STEM_IDLE_MS), runtime, isolation);
          console.log(`[bench] first call with a stem cell just started ${runtime}/${isolation}`);
          add("first call, new function, stem cell just started (< 1 s)", await firstCalls(f, nc, runtime, isolation, 4), runtime, isolation);
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
    }
  } finally {
    grpc?.close();
    await nc.close();
    for (const c of rawClients.values()) c.close();
    for (const c of ["gateway", "agents", "controller"]) await stopProcess(f.procs.get(c));
    await f.nats.cleanup();
    await f.mongo.cleanup();
    keepAlive.destroy();
  }

  const natsP50 = rows[0]?.stats?.p50 ?? NaN;
  for (const r of rows) if (r.metric.startsWith("warm") && r.stats) r.extra = { ratioToNatsFloorP50: Math.round((r.stats.p50 / natsP50) * 10) / 10 };
  console.log("");
  printTable(rows);
  if (pathFloor) printCpu("path floor (no Weft)", pathFloor.cpu);
  if (pathFloorNodejs) printCpu("path floor, nodejs (no Weft)", pathFloorNodejs.cpu);
  for (const [runtime, r] of Object.entries(cpu)) printCpu(runtime, r);
  if (cpuFloors.length > 0) printCpuFloors(cpuFloors);
  console.log("\n[bench] peers, quoted as reference (issue 8; same machine class, not re-measured here):");
  for (const p of PEERS) console.log(`  ${p.system.padEnd(42)} warm p50 ${p.warmP50Ms} ms  throughput ${p.throughput ?? "-"}  CPU/call ${p.cpuMsPerCall ?? "-"} ms`);
  const file = join(RESULTS, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  const report = {
    at: new Date().toISOString(),
    host: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadavg: loadavg(),
    quick: QUICK,
    commit: process.env.WEFT_BENCH_COMMIT,
    settings: { N_WARM, THROUGHPUT_MS, CONCURRENCY, FIRST_CALL_TRIALS, FLOOR_CONTAINER_TRIALS, CPU_CALLS, FUNCTION_CONCURRENCY, SOAK_SLICES, SOAK_SLICE_MS, MANY_FUNCTIONS, OVERLOAD_MS, OVERLOAD_FACTOR, sections: [...SECTIONS] },
    targets: TARGETS,
    peers: PEERS,
    rows,
    cpu,
    cpuDirect,
    cpuFloors,
    pathFloor,
    pathFloorNodejs,
    pathFloorConcurrent,
    soaks,
    manyFunctions: many,
    manyFunctionsFloor: manyFloor,
    overload: over,
    overloadSized: overSized,
    overloadFloor: overFloor,
  };
  await writeFile(file, JSON.stringify(report, null, 2));
  console.log(`\n[bench] report written to ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
