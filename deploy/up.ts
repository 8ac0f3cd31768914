// `npm run up`: the whole fabric on one machine until Ctrl-C. Runs deploy/services.sh, starts nats-server (one, or
// a cluster with --nats-cluster 3) with a persistent JetStream store, then the controller, one agent and the gateway
// as child processes under a supervisor: a program that dies is restarted with back-off, and everything stops only
// on SIGINT or SIGTERM. The programs' JSON logs go to stdout; our own messages go to stderr, so stdout stays pure
// JSON for pino-pretty or jq.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseEnv } from "../shared/config.js";
import { createLogger } from "../shared/logger.js";
import { underBatch } from "../shared/sched-batch.js";
import {
  NATS_HOST,
  natsInfo,
  planNats,
  plannedPorts,
  portInUse,
  waitForJetStream,
  writeNatsConfig,
  type NatsNode,
  type NatsPlan,
} from "./nats-servers.js";
import { serverGoMaxProcs } from "./go-servers.js";
import { StatusAnnouncer } from "./status-announcer.js";
import { stopGraceMs } from "./stop-grace.js";
import { Supervisor } from "./supervisor.js";
import { parseUpArgs, restartPolicy, upFields, type UpArgs, type UpConfig } from "./up-config.js";
import { WEFT_DIR, readWeftEnv } from "./weft-env.js";
import { ensureConsoleBuilt } from "../clients/console/build.js";

const ROOT = resolve(import.meta.dirname, "..");
const NATS_START_TIMEOUT_MS = 30_000;

/** The programs up runs after NATS, in start order; they stop in reverse order so nothing loses its NATS first. */
const COMPONENTS = [
  { name: "controller", entry: "controller/main.ts" },
  { name: "agent", entry: "agents/main.ts" },
  { name: "gateway", entry: "gateway/main.ts" },
] as const;

function note(message: string): void {
  process.stderr.write(`weft up: ${message}\n`);
}

// ---- spawning ----------------------------------------------------------------------------------------------

/** Copies whole lines so the logs of several programs never interleave mid-line. */
function forwardLines(stream: NodeJS.ReadableStream | null, out: NodeJS.WritableStream, prefix = ""): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => out.write(`${prefix}${line}\n`));
}

// Each child runs in its own process group: Ctrl-C reaches only up, which then stops the programs in order.
function spawnComponent(name: string, entry: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", entry], { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  forwardLines(child.stdout, process.stdout);
  forwardLines(child.stderr, process.stderr, `[${name}] `);
  return child;
}

function spawnNats(binary: string, node: NatsNode, logFile: string, goMaxProcs: number, batch: boolean): ChildProcess {
  const fd = openSync(logFile, "a");
  try {
    const { command, args } = underBatch(binary, ["-c", node.configFile], batch);
    return spawn(command, args, { detached: true, stdio: ["ignore", fd, fd], env: { ...process.env, GOMAXPROCS: String(goMaxProcs) } });
  } finally {
    closeSync(fd);
  }
}

// ---- services ----------------------------------------------------------------------------------------------

function runServicesScript(): void {
  const result = spawnSync("bash", [join(ROOT, "deploy/services.sh")], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) throw new Error(`deploy/services.sh failed (exit ${result.status ?? result.signal})`);
}

/** The servers are ours to start, or (one node only) a JetStream server already listening is reused. */
async function natsToStart(plan: NatsPlan): Promise<NatsNode[]> {
  const first = plan.nodes[0]!;
  const existing = await natsInfo(first.port);
  if (plan.nodes.length === 1 && existing?.jetstream) {
    note(`reusing the NATS server (${existing.version ?? "?"}) already listening on ${NATS_HOST}:${first.port}`);
    return [];
  }
  if (existing && plan.nodes.length === 1) throw new Error(`a NATS server without JetStream holds ${NATS_HOST}:${first.port}; stop it or set WEFT_NATS_PORT`);
  for (const { port, what } of plannedPorts(plan)) {
    if (await portInUse(port)) throw new Error(`${NATS_HOST}:${port}, wanted for ${what}, is in use; stop what holds it or set WEFT_NATS_PORT`);
  }
  return plan.nodes;
}

async function startNats(supervisor: Supervisor, plan: NatsPlan, args: UpArgs, config: UpConfig, env: NodeJS.ProcessEnv, stateDir: string, binary: string): Promise<void> {
  const nodes = await natsToStart(plan);
  if (nodes.length === 0) return;
  mkdirSync(WEFT_DIR, { recursive: true });
  for (const node of nodes) {
    writeNatsConfig(node, plan, args.natsSync);
    const name = nodes.length === 1 ? "nats-server" : `nats-${node.name.replace(/^weft-/, "")}`;
    const logFile = join(stateDir, `${name}.log`);
    supervisor.run({ name, spawn: () => spawnNats(binary, node, logFile, serverGoMaxProcs(config.natsGoMaxProcs), config.schedBatch), graceMs: stopGraceMs("nats-server", env) });
  }
  await waitForJetStream(plan, NATS_START_TIMEOUT_MS, () => supervisor.isStopping);
  const where = nodes.map((n) => `${NATS_HOST}:${n.port}`).join(", ");
  note(`nats-server ${nodes.length === 1 ? "on" : `cluster of ${nodes.length} on`} ${where}, streams with ${plan.replicas} replica(s), store ${join(stateDir, nodes.length === 1 ? "nats" : "nats-cluster")}, log ${stateDir}/nats*.log`);
}

async function assertPortsFree(config: UpConfig): Promise<void> {
  for (const [port, variable] of [[config.httpPort, "WEFT_HTTP_PORT"], [config.grpcPort, "WEFT_GRPC_PORT"]] as const) {
    if (await portInUse(port)) throw new Error(`${NATS_HOST}:${port} is in use: stop what holds it or set ${variable}`);
  }
}

// ---- running -----------------------------------------------------------------------------------------------

/** Polls /healthz: the gateway offers no other signal that NATS and an agent are ready. */
async function waitUntilHealthy(url: string, supervisor: Supervisor): Promise<boolean> {
  let last = "";
  let nextReport = Date.now() + 30_000;
  while (!supervisor.isStopping) {
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return true;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > nextReport) {
      note(`still waiting for ${url}/healthz: ${last}`);
      nextReport = Date.now() + 30_000;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function banner(config: UpConfig, plan: NatsPlan, mongoUrl: string | undefined): string {
  const http = `http://${NATS_HOST}:${config.httpPort}`;
  const rows: Array<[string, string, string]> = [
    ["Console", `${http}/`, "open it in a browser"],
    ["HTTP", http, `curl ${http}/healthz`],
    ["gRPC", `${NATS_HOST}:${config.grpcPort}`, `grpcurl -plaintext ${NATS_HOST}:${config.grpcPort} list`],
    ["NATS", plan.url, `nats req weft.invoke.<name> '{}'`],
    ["MongoDB", mongoUrl ?? "?", ""],
  ];
  const width = Math.max(...rows.map((r) => r[1].length)) + 3;
  return [
    "",
    "  Weft is up.",
    ...rows.map(([what, where, example]) => `    ${what.padEnd(9)}${where.padEnd(width)}${example}`.trimEnd()),
    "  Logs are JSON on stdout. A program that dies is restarted. Ctrl-C stops everything.",
    "",
  ].join("\n");
}

/** Stops on SIGINT or SIGTERM; resolves once everything has stopped. A second signal kills at once. */
function stopOnSignal(supervisor: Supervisor, announcer: StatusAnnouncer): Promise<void> {
  return new Promise((resolveStopped) => {
    let firstAt = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (!supervisor.isStopping) {
        firstAt = Date.now();
        note(`${signal}: stopping (Ctrl-C again to kill at once)`);
        const stopped = supervisor.stop(); // announces "stopping" to the gateways before they go
        void announcer
          .stop()
          .then(() => stopped)
          .then(resolveStopped);
        return;
      }
      // npm forwards the terminal's SIGINT, which reaches us directly too: only a later one means "now".
      if (Date.now() - firstAt < 1000) return;
      note(`${signal} again: killing everything now`);
      supervisor.killAll();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // The programs run in their own process groups, so nothing else would stop them if up itself crashed.
    process.on("exit", () => supervisor.killAll());
  });
}

function componentEnv(config: UpConfig, services: Record<string, string>, plan: NatsPlan, stateDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...services,
    WEFT_STATE_DIR: stateDir, // the agent's record outbox lives under it
    WEFT_NATS_URL: plan.url,
    WEFT_STREAM_REPLICAS: String(plan.replicas),
    WEFT_MONGO_URL: services.MONGO_URL,
    WEFT_HTTP_PORT: String(config.httpPort),
    WEFT_GRPC_PORT: String(config.grpcPort),
  };
}

/** The web console the gateway serves at /, built when missing or stale; the API runs without it. */
async function buildConsole(): Promise<void> {
  try {
    await ensureConsoleBuilt({ log: note });
  } catch (err) {
    note(`the web console could not be built (${(err as Error).message}); the API works without it`);
  }
}

async function main(): Promise<void> {
  const args = parseUpArgs(process.argv.slice(2));
  const config = parseEnv(upFields, process.env);
  const absent = COMPONENTS.filter((c) => !existsSync(join(ROOT, c.entry))).map((c) => c.entry);
  if (absent.length) throw new Error(`missing ${absent.join(", ")}: this checkout cannot run the fabric yet`);
  if (!config.skipServices) runServicesScript();
  await buildConsole();
  const services = readWeftEnv();
  const stateDir = config.stateDir ?? services.WEFT_STATE_DIR ?? join(WEFT_DIR, "state");
  mkdirSync(stateDir, { recursive: true });
  const plan = planNats({ size: args.natsCluster, port: config.natsPort, stateDir, configDir: WEFT_DIR });
  const env = componentEnv(config, services, plan, stateDir);

  const announcer = new StatusAnnouncer(() => supervisor.status(), createLogger("up", "warn"));
  const supervisor = new Supervisor(restartPolicy(config), { note, changed: () => announcer.announce() });
  const stopped = stopOnSignal(supervisor, announcer);
  await assertPortsFree(config);
  await startNats(supervisor, plan, args, config, env, stateDir, services.WEFT_NATS_SERVER_BIN ?? "nats-server");
  announcer.start(plan.url);
  const graces = COMPONENTS.map((c) => `${c.name} ${stopGraceMs(c.name, env) / 1000} s`);
  note(`stop graces (SIGTERM to SIGKILL): ${graces.join(", ")}`);
  for (const c of COMPONENTS) {
    supervisor.run({ name: c.name, spawn: () => spawnComponent(c.name, c.entry, env), graceMs: stopGraceMs(c.name, env) });
  }
  if (await waitUntilHealthy(`http://${NATS_HOST}:${config.httpPort}`, supervisor)) {
    process.stderr.write(`${banner(config, plan, services.MONGO_URL)}\n`);
  }
  await stopped;
  note("stopped");
}

main().catch((err: Error) => {
  note(err.message);
  process.exitCode = 1;
  process.exit(); // the children, if any, are killed by the exit handler
});
