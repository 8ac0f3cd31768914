// `npm run up`: the whole fabric on one machine until Ctrl-C. Runs deploy/services.sh, starts a nats-server
// with a persistent JetStream store, then the controller, one agent and the gateway as child processes whose
// JSON logs go to stdout (our own messages go to stderr, so stdout stays pure JSON for pino-pretty or jq).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { boolFromEnv, envField, intFromEnv, parseEnv, type ConfigOf } from "../shared/config.js";
import { LIMITS } from "../shared/limits.js";

const ROOT = resolve(import.meta.dirname, "..");
const WEFT_DIR = join(ROOT, ".weft");
const HOST = "127.0.0.1";

const upFields = {
  httpPort: envField("WEFT_HTTP_PORT", intFromEnv(8080, 1, 65535), "gateway HTTP port"),
  grpcPort: envField("WEFT_GRPC_PORT", intFromEnv(50051, 1, 65535), "gateway gRPC port"),
  natsPort: envField("WEFT_NATS_PORT", intFromEnv(4222, 1, 65535), "port of the nats-server up starts (or reuses)"),
  graceMs: envField("WEFT_UP_GRACE_MS", intFromEnv(15_000, 0), "time each program gets to drain before SIGKILL"),
  skipServices: envField("WEFT_UP_SKIP_SERVICES", boolFromEnv(false), "do not run deploy/services.sh first"),
};
type UpConfig = ConfigOf<typeof upFields>;

/** The programs up runs, in start order; they stop in reverse order so nothing loses its NATS first. */
const COMPONENTS = [
  { name: "controller", entry: "controller/main.ts" },
  { name: "agent", entry: "agents/main.ts" },
  { name: "gateway", entry: "gateway/main.ts" },
] as const;

function note(message: string): void {
  process.stderr.write(`weft up: ${message}\n`);
}

// ---- child processes ---------------------------------------------------------------------------------------

interface Exit { code: number | null; signal: NodeJS.Signals | null }

/** One program up started: it is stopped with SIGTERM, then SIGKILL once the grace period is over. */
class ManagedProcess {
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;

  constructor(readonly name: string, readonly child: ChildProcess) {
    this.exited = new Promise((resolvePromise) => {
      child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        resolvePromise(this.exit);
      });
      child.once("error", (err) => {
        note(`${name} could not start: ${err.message}`);
        this.exit = { code: 127, signal: null };
        resolvePromise(this.exit);
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      note(`${this.name} still running after ${graceMs} ms: SIGKILL`);
      this.child.kill("SIGKILL");
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.running) this.child.kill("SIGKILL");
  }
}

/** Copies whole lines so the logs of several programs never interleave mid-line. */
function forwardLines(stream: NodeJS.ReadableStream | null, out: NodeJS.WritableStream, prefix = ""): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => out.write(`${prefix}${line}\n`));
}

function startComponent(name: string, entry: string, env: NodeJS.ProcessEnv): ManagedProcess {
  // Own process group: Ctrl-C reaches only up, which then stops the programs in order.
  const child = spawn(process.execPath, ["--import", "tsx", entry], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  forwardLines(child.stdout, process.stdout);
  forwardLines(child.stderr, process.stderr, `[${name}] `);
  return new ManagedProcess(name, child);
}

// ---- services ----------------------------------------------------------------------------------------------

function runServicesScript(): void {
  const result = spawnSync("bash", [join(ROOT, "deploy/services.sh")], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) throw new Error(`deploy/services.sh failed (exit ${result.status ?? result.signal})`);
}

/** .weft/env, as deploy/services.sh wrote it: KEY=value lines. */
function readEnvFile(): Record<string, string> {
  const file = join(WEFT_DIR, "env");
  if (!existsSync(file)) throw new Error(`${file} is missing: run bash deploy/services.sh`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1]) env[m[1]] = m[2] ?? "";
  }
  return env;
}

/** Reads the INFO line a NATS server greets with; undefined when nothing (or not NATS) listens. */
function natsInfo(port: number): Promise<{ jetstream?: boolean; version?: string } | undefined> {
  return new Promise((resolvePromise) => {
    const socket = connect(port, HOST);
    let buf = "";
    const done = (info: { jetstream?: boolean; version?: string } | undefined) => {
      socket.destroy();
      resolvePromise(info);
    };
    socket.setTimeout(1000, () => done(undefined));
    socket.on("error", () => done(undefined));
    socket.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\r\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      if (!line.startsWith("INFO ")) return done(undefined);
      try {
        done(JSON.parse(line.slice(5)) as { jetstream?: boolean; version?: string });
      } catch {
        done(undefined); // a server that greets with INFO but no JSON is not one we can use
      }
    });
  });
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const srv = createServer();
    srv.once("error", () => resolvePromise(true));
    srv.listen(port, HOST, () => srv.close(() => resolvePromise(false)));
  });
}

function writeNatsConfig(stateDir: string, port: number): string {
  const storeDir = join(stateDir, "nats");
  mkdirSync(storeDir, { recursive: true });
  mkdirSync(WEFT_DIR, { recursive: true });
  const file = join(WEFT_DIR, "nats.conf");
  writeFileSync(
    file,
    [
      "# Generated by deploy/up.ts on every start; edit deploy/up.ts instead.",
      `listen: ${HOST}:${port}`,
      `max_payload: ${LIMITS.natsMaxPayloadBytes}`,
      "server_name: weft-local",
      `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
      "",
    ].join("\n"),
  );
  return file;
}

/** A nats-server of our own, or undefined when a JetStream-enabled one already listens on the port. */
async function startNats(binary: string, stateDir: string, port: number): Promise<ManagedProcess | undefined> {
  const existing = await natsInfo(port);
  if (existing?.jetstream) {
    note(`reusing the NATS server (${existing.version ?? "?"}) already listening on ${HOST}:${port}`);
    return undefined;
  }
  if (existing) throw new Error(`a NATS server without JetStream holds ${HOST}:${port}; stop it or set WEFT_NATS_PORT`);
  if (await portInUse(port)) throw new Error(`${HOST}:${port} is in use by something other than NATS; set WEFT_NATS_PORT`);
  const logFile = join(stateDir, "nats.log");
  const fd = openSync(logFile, "a");
  const child = spawn(binary, ["-c", writeNatsConfig(stateDir, port)], { detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const nats = new ManagedProcess("nats-server", child);
  const deadline = Date.now() + 15_000;
  while (!(await natsInfo(port))) {
    if (!nats.running || Date.now() > deadline) {
      nats.kill();
      throw new Error(`nats-server did not start; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  note(`nats-server on ${HOST}:${port}, JetStream store ${join(stateDir, "nats")}, log ${logFile}`);
  return nats;
}

async function assertPortsFree(config: UpConfig): Promise<void> {
  for (const [port, variable] of [[config.httpPort, "WEFT_HTTP_PORT"], [config.grpcPort, "WEFT_GRPC_PORT"]] as const) {
    if (await portInUse(port)) throw new Error(`${HOST}:${port} is in use: stop what holds it or set ${variable}`);
  }
}

// ---- the fabric --------------------------------------------------------------------------------------------

/** Everything up started, and the one way to stop it. */
class Fabric {
  private readonly components: ManagedProcess[] = [];
  private nats: ManagedProcess | undefined;
  private stopping: Promise<void> | undefined;
  private markDone: () => void = () => {};
  /** Settles once everything has stopped, whoever started the stop. */
  readonly done = new Promise<void>((resolvePromise) => {
    this.markDone = resolvePromise;
  });

  constructor(private readonly config: UpConfig) {}

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  setNats(nats: ManagedProcess | undefined): void {
    this.nats = nats;
    if (nats) this.watch(nats);
  }

  add(component: ManagedProcess): void {
    this.components.push(component);
    this.watch(component);
  }

  /** Stops everything in order. Idempotent: a second call returns the first call's promise. */
  stop(): Promise<void> {
    this.stopping ??= this.stopInOrder();
    return this.stopping;
  }

  killAll(): void {
    for (const p of [...this.components, this.nats]) p?.kill();
  }

  private async stopInOrder(): Promise<void> {
    for (const p of [...this.components].reverse()) {
      if (p.running) note(`stopping ${p.name}`);
      await p.stop(this.config.graceMs);
    }
    if (this.nats?.running) note("stopping nats-server");
    await this.nats?.stop(this.config.graceMs);
    this.markDone();
  }

  private watch(p: ManagedProcess): void {
    void p.exited.then(({ code, signal }) => {
      if (this.isStopping) return;
      note(`${p.name} exited unexpectedly (${signal ?? `code ${code}`}); stopping everything`);
      process.exitCode = 1;
      void this.stop();
    });
  }
}

/** Polls /healthz: the gateway offers no other signal that NATS and an agent are ready. */
async function waitUntilHealthy(url: string, fabric: Fabric): Promise<boolean> {
  let last = "";
  let nextReport = Date.now() + 30_000;
  while (!fabric.isStopping) {
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

function banner(config: UpConfig, env: Record<string, string>): string {
  const http = `http://${HOST}:${config.httpPort}`;
  const rows: Array<[string, string, string]> = [
    ["HTTP", http, `curl ${http}/healthz`],
    ["gRPC", `${HOST}:${config.grpcPort}`, `grpcurl -plaintext ${HOST}:${config.grpcPort} list`],
    ["NATS", `nats://${HOST}:${config.natsPort}`, `nats req weft.invoke.<name> '{}'`],
    ["MongoDB", env.MONGO_URL ?? "?", ""],
  ];
  const width = Math.max(...rows.map((r) => r[1].length)) + 3;
  return [
    "",
    "  Weft is up.",
    ...rows.map(([what, where, example]) => `    ${what.padEnd(9)}${where.padEnd(width)}${example}`.trimEnd()),
    "  Logs are JSON on stdout. Ctrl-C stops everything.",
    "",
  ].join("\n");
}

function installSignalHandlers(fabric: Fabric): void {
  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!fabric.isStopping) {
      firstAt = Date.now();
      note(`${signal}: stopping (Ctrl-C again to kill at once)`);
      void fabric.stop();
      return;
    }
    // npm forwards the terminal's SIGINT, which reaches us directly too: only a later one means "now".
    if (Date.now() - firstAt < 1000) return;
    note(`${signal} again: killing everything now`);
    fabric.killAll();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // The programs run in their own process groups, so nothing else would stop them if up itself crashed.
  process.on("exit", () => fabric.killAll());
}

async function main(): Promise<void> {
  const config = parseEnv(upFields, process.env);
  const absent = COMPONENTS.filter((c) => !existsSync(join(ROOT, c.entry))).map((c) => c.entry);
  if (absent.length) throw new Error(`missing ${absent.join(", ")}: this checkout cannot run the fabric yet`);
  if (!config.skipServices) runServicesScript();
  const services = readEnvFile();
  const fabric = new Fabric(config);
  installSignalHandlers(fabric);
  await assertPortsFree(config);
  const stateDir = services.WEFT_STATE_DIR ?? join(WEFT_DIR, "state");
  fabric.setNats(await startNats(services.WEFT_NATS_SERVER_BIN ?? "nats-server", stateDir, config.natsPort));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...services,
    WEFT_NATS_URL: `nats://${HOST}:${config.natsPort}`,
    WEFT_MONGO_URL: services.MONGO_URL,
    WEFT_HTTP_PORT: String(config.httpPort),
    WEFT_GRPC_PORT: String(config.grpcPort),
  };
  for (const c of COMPONENTS) {
    if (fabric.isStopping) break;
    fabric.add(startComponent(c.name, c.entry, env));
  }
  if (await waitUntilHealthy(`http://${HOST}:${config.httpPort}`, fabric)) process.stderr.write(`${banner(config, services)}\n`);
  await fabric.done; // a signal or a program that died stops everything
}

main().catch((err: Error) => {
  note(err.message);
  process.exitCode = 1;
});
