// `npm run up` as a test runs it: deploy/up.ts as a child process on private ports, with its own NATS store,
// MongoDB database and agent id, so it shares nothing with another fabric on the machine.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { portInUse } from "../../deploy/nats-servers.js";
import type { SupervisedComponent, SupervisorStatus } from "../../shared/schemas/supervisor.js";
import { eventually } from "./eventually.js";
import { freePort } from "./nats.js";
import { uniqueDbName } from "./mongo.js";

const ROOT = resolve(import.meta.dirname, "../..");

export interface UpProcess {
  child: ChildProcess;
  httpUrl: string;
  natsUrl: string;
  agentId: string;
  /** Everything up wrote on stderr so far (its own notes and the programs' stderr). */
  stderr(): string;
  /** GET /healthz, whatever its status. */
  health(): Promise<{ status: number; body: HealthBody }>;
  /** Resolves once /healthz answers 200 and reports the controller and MongoDB up. */
  healthy(timeoutMs?: number): Promise<void>;
  /** The component as the gateway's /healthz shows it, once `ready` holds for it. */
  component(name: string, ready: (c: SupervisedComponent) => boolean, what: string, timeoutMs?: number): Promise<SupervisedComponent>;
  /** Sends the signal and waits for up to exit; resolves with its exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
  cleanup(): Promise<void>;
}

export interface HealthBody {
  status: string;
  supervisors?: Array<SupervisorStatus & { lastSeenMs: number }>;
  crashLoops?: string[];
  [k: string]: unknown;
}

/** A base port with `count` free ports from it and from it + 2000 (a cluster's routes). Racy, like every free port. */
async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = Array.from({ length: count }, (_, i) => [base + i, base + 2000 + i]).flat();
    if (!(await Promise.all(ports.map(portInUse))).some(Boolean)) return base;
  }
  throw new Error("no free port range");
}

export async function startUp(args: string[], env: Record<string, string> = {}): Promise<UpProcess> {
  const clusterSize = Number(args[args.indexOf("--nats-cluster") + 1] ?? 1) || 1;
  const [httpPort, grpcPort, natsPort] = [await freePort(), await freePort(), await freePortRange(clusterSize)];
  const stateDir = await mkdtemp(join(tmpdir(), "weft-up-"));
  const agentId = `up-test-${randomBytes(3).toString("hex")}`;
  const child = spawn(process.execPath, ["--import", "tsx", "deploy/up.ts", ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      WEFT_UP_SKIP_SERVICES: "true",
      WEFT_UP_STATE_DIR: stateDir,
      WEFT_HTTP_PORT: String(httpPort),
      WEFT_GRPC_PORT: String(grpcPort),
      WEFT_NATS_PORT: String(natsPort),
      WEFT_MONGO_DB: uniqueDbName("up"),
      WEFT_AGENT_ID: agentId,
      WEFT_STEM_CELLS: "0",
      WEFT_LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const health = async () => {
    const res = await fetch(`${httpUrl}/healthz`);
    return { status: res.status, body: (await res.json()) as HealthBody };
  };
  const up: UpProcess = {
    child,
    httpUrl,
    natsUrl: `nats://127.0.0.1:${natsPort}`,
    agentId,
    stderr: () => stderr,
    health,
    healthy: async (timeoutMs = 60_000) => {
      await eventually(async () => {
        if (child.exitCode !== null) throw new Error(`up exited (${child.exitCode}):\n${stderr}`);
        // 200 once an agent runs; deploying functions also needs the controller and its MongoDB.
        const h = await health().catch(() => undefined);
        return h?.status === 200 && h.body.controller === "ok" && h.body.mongo === "ok" ? true : undefined;
      }, "/healthz 200 with the controller", timeoutMs, 100);
    },
    component: (name, ready, what, timeoutMs = 60_000) =>
      eventually(async () => {
        if (child.exitCode !== null) throw new Error(`up exited (${child.exitCode}):\n${stderr}`);
        const h = await health().catch(() => undefined);
        const c = h?.body.supervisors?.[0]?.components.find((x) => x.name === name);
        return c && ready(c) ? c : undefined;
      }, `${name}: ${what}`, timeoutMs, 100),
    stop: async (signal) => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
    cleanup: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  return up;
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
