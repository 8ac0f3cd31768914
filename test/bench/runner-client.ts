// A frame client for one runtime container, as the agent runs it or stripped down (the worker alone, attach
// instead of the socket): what bench:runner compares, and what npm run bench times as the runner-channel floor.
import type Dockerode from "dockerode";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import type { Duplex } from "node:stream";
import { AttachDemuxer } from "../../agents/runner-protocol.js";
import { DockerDriver, type Isolation, type Runtime } from "../../agents/docker-driver.js";
import { agentChannelDir, CHANNEL_PATH, ChannelListener, DEFAULT_CHANNEL_ROOT } from "../../agents/runner-channel.js";
import { DEFAULT_SECCOMP_PROFILE, loadSeccompOption } from "../../agents/seccomp.js";
import { baseImagesFromEnv, ensureRuntimeImages, RUNTIME_IMAGES } from "../../deploy/images.js";
import { createLogger } from "../../shared/logger.js";

/** The newest runtime of each language. */
export const BENCH_RUNTIMES = ["python3.13", "nodejs20"] as const satisfies readonly Runtime[];
export type BenchRuntime = (typeof BENCH_RUNTIMES)[number];
const CODE: Record<BenchRuntime, string> = {
  "python3.13": `def handler(event, context):\n    return {"hello": event.get("name")}\n`,
  nodejs20: `exports.handler = async (event) => ({ hello: event.name })\n`,
};
const WORKER: Record<BenchRuntime, string> = { "python3.13": "python3 -u /opt/weft/worker.py", nodejs20: "node /opt/weft/worker.js" };
/** The worker alone on the socket: connect, put the socket on fds 3 and 4 (frames in, frames out), run the worker. */
const SOCKET_WORKER: Record<BenchRuntime, string[]> = {
  "python3.13": ["python3", "-c", `import os, socket
s = socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(CHANNEL_PATH)})
os.dup2(s.fileno(), 9); os.dup2(9, 3); os.dup2(9, 4); os.close(9)
os.execvp("python3", ["python3", "-u", "/opt/weft/worker.py"])`],
  nodejs20: ["node", "-e", `const s = require("net").connect(${JSON.stringify(CHANNEL_PATH)}, () => {
  require("child_process").spawn("node", ["/opt/weft/worker.js"], { stdio: ["ignore", "inherit", "inherit", s, s] }).on("exit", (c) => process.exit(c ?? 1));
});`],
};
export const VARIANTS = [
  "worker alone, attach",
  "worker alone, socket",
  "runner, attach",
  "runner, socket, no settle",
  "runner, socket, checks, no freeze",
  "runner, socket",
] as const;
export type Variant = (typeof VARIANTS)[number];

/** A frame client: header line, then the payload its lengths name (worker and runner frames alike). */
export class Client {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: ((h: Record<string, unknown>) => void) | undefined;
  private frames: Array<Record<string, unknown>> = [];
  /** Answers awaited by run id (answer()), for a container running several calls at once. */
  private readonly byId = new Map<string, (h: Record<string, unknown>) => void>();
  constructor(private readonly out: { write(b: Buffer): unknown }, input: NodeJS.ReadableStream, demultiplex: boolean) {
    if (demultiplex) {
      const demux = new AttachDemuxer((c) => this.feed(c), () => {});
      input.on("data", (c: Buffer) => demux.feed(c));
    } else input.on("data", (c: Buffer) => this.feed(c));
  }
  private feed(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const h = JSON.parse(this.buf.subarray(0, nl).toString()) as Record<string, number>;
      const need = (h.outputBytes ?? 0) + (h.logBytes ?? 0);
      if (this.buf.length < nl + 1 + need) return;
      this.buf = this.buf.subarray(nl + 1 + need);
      const id: unknown = h.id;
      const byId = typeof id === "string" ? this.byId.get(id) : undefined;
      if (byId) {
        this.byId.delete(id as string);
        byId(h);
      } else if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(h);
      } else this.frames.push(h);
    }
  }
  next(): Promise<Record<string, unknown>> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((r) => (this.waiter = r));
  }
  /** The answer to run `id` (sent after this is called), whatever other answers come before it. */
  answer(id: string): Promise<Record<string, unknown>> {
    return new Promise((r) => this.byId.set(id, r));
  }
  send(header: object, payload: Buffer): void {
    this.out.write(Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), payload]));
  }
}

/**
 * A Docker driver with the agent's hardening (seccomp, pids, nofile, tmpfs) for a bench's own containers, the
 * runtimes' images built or found first, and the channel directory its socket containers connect to.
 */
export async function benchDriver(docker: Dockerode, runtimes: readonly Runtime[], agentPrefix: string): Promise<{ driver: DockerDriver; channelDir: string }> {
  const images = { ...RUNTIME_IMAGES };
  const log = createLogger("bench", "warn");
  for (const built of await ensureRuntimeImages(docker, { bases: baseImagesFromEnv(process.env), images, log, only: runtimes })) images[built.runtime] = built.pinned;
  const agentId = `${agentPrefix}-${randomBytes(4).toString("hex")}`;
  const driver = new DockerDriver(docker, { agentId, images, pidsLimit: 128, nofileLimit: 1024, tmpfsMb: 64, seccomp: loadSeccompOption(DEFAULT_SECCOMP_PROFILE) });
  return { driver, channelDir: agentChannelDir(DEFAULT_CHANNEL_ROOT, agentId) };
}

export interface Started {
  client: Client;
  shimPid: number | undefined;
  stop(): Promise<void>;
}

export async function start(docker: Dockerode, driver: DockerDriver, channelDir: string, runtime: BenchRuntime, isolation: Isolation, variant: Variant, concurrency = 1): Promise<Started> {
  const socket = variant.includes("socket");
  const listener = socket ? await ChannelListener.open(channelDir) : undefined;
  const opts = driver.createOptions({ runtime, isolation, memoryMb: 256, cpus: 1 }, `weft-bench-boundary-${randomBytes(4).toString("hex")}`, listener?.dir);
  if (variant === "worker alone, attach") {
    opts.User = "65534:65534";
    opts.HostConfig!.CapAdd = [];
    opts.Cmd = ["/bin/sh", "-c", `exec ${WORKER[runtime]} 3<&0 4>&1`];
  } else if (variant === "worker alone, socket") {
    // Stays uid 0 (without capabilities) to enter the socket's directory, as the runner does.
    opts.HostConfig!.CapAdd = [];
    opts.Cmd = SOCKET_WORKER[runtime];
  } else if (variant.endsWith("no settle")) {
    opts.Env = [...(opts.Env ?? []), "WEFT_RUNNER_SETTLE=off"];
  } else if (variant.endsWith("no freeze")) {
    opts.Env = [...(opts.Env ?? []), "WEFT_RUNNER_SETTLE=no-freeze"];
  }
  // WEFT_BENCH_CONTAINER_ENV (KEY=VALUE, comma-separated): extra environment for every container, to measure a
  // runtime setting (NODE_OPTIONS, UV_THREADPOOL_SIZE) before it goes into an image.
  const extraEnv = process.env.WEFT_BENCH_CONTAINER_ENV?.split(",").filter(Boolean) ?? [];
  if (extraEnv.length) opts.Env = [...(opts.Env ?? []), ...extraEnv];
  const c = await docker.createContainer(opts);
  const stream = (await c.attach({ stream: true, stdin: !socket, stdout: true, stderr: true, hijack: !socket })) as Duplex;
  await c.start();
  let client: Client;
  let close: () => void;
  if (listener) {
    const conn = await listener.connection();
    await listener.dispose();
    client = new Client(conn, conn, false);
    conn.resume();
    close = () => conn.destroy();
  } else {
    client = new Client(stream, stream, true);
    close = () => stream.destroy();
  }
  const ready = await client.next();
  if (ready.t !== "up" && ready.t !== "ready") throw new Error(`unexpected first frame ${JSON.stringify(ready)}`);
  const code = Buffer.from(CODE[runtime]);
  client.send({ t: "init", codeBytes: code.length, env: {}, concurrency, logLimit: 262144, outputLimit: 6 << 20 }, code);
  const init = await client.next();
  if (init.t !== "init_ok") throw new Error(`init failed: ${JSON.stringify(init)}`);
  return {
    client,
    shimPid: shimOf(c.id),
    stop: async () => {
      close();
      stream.destroy();
      await c.remove({ force: true });
    },
  };
}

/** The containerd-shim serving one container (its command line names the container's id). */
function shimOf(containerId: string): number | undefined {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1");
      if (cmd.startsWith("/") && cmd.includes("containerd-shim") && cmd.includes(containerId)) return Number(pid);
      if (cmd.includes("containerd-shim") && cmd.includes(`-id\0${containerId}`)) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
