// Starts a real nats-server with JetStream for a test file, on a free loopback port, in its own store directory.
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { serverGoMaxProcs } from "../../deploy/go-servers.js";
import { LIMITS } from "../../shared/limits.js";
import { startServerProcess, type ServerProcess } from "./server-process.js";

export interface NatsServer extends ServerProcess {
  url: string;
  port: number;
  /** Its monitoring endpoints, when started with `monitor`. */
  monitorUrl?: string;
}

export function natsServerBinary(): string {
  return process.env.WEFT_NATS_SERVER_BIN ?? "nats-server";
}

/**
 * Ports this process has handed out. A port is free once its probe closes, and the kernel may hand it out again
 * at once: two servers of one fabric then got the same port (the chaos suite's gateway took 35971 for HTTP and gRPC
 * both, and the run failed with EADDRINUSE).
 */
const handedOut = new Set<number>();

/** A port free now and not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await probePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error("no free port this process has not handed out already, after 50 tries");
}

async function probePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const addr = srv.address();
  srv.close();
  if (!addr || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

/**
 * maxPayload: the server's max_payload (default: what Weft's own servers use). monitor: serve nats-server's
 * monitoring endpoints (/varz: messages in and out) on a port of their own, at `monitorUrl`.
 */
export async function startNats(opts: { maxPayload?: number; monitor?: boolean } = {}): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), "weft-nats-"));
  const port = await freePort();
  const monitorPort = opts.monitor ? await freePort() : undefined;
  const conf = join(dir, "nats.conf");
  await writeFile(
    conf,
    [
      `listen: 127.0.0.1:${port}`,
      `max_payload: ${opts.maxPayload ?? LIMITS.natsMaxPayloadBytes}`,
      `jetstream { store_dir: "${join(dir, "js")}" }`,
      ...(monitorPort ? [`http: "127.0.0.1:${monitorPort}"`] : []),
    ].join("\n"),
  );
  const server = await startServerProcess({ name: "nats-server", binary: natsServerBinary(), args: ["-c", conf], port, dir, env: natsServerEnv() });
  return { ...server, url: `nats://127.0.0.1:${port}`, port, ...(monitorPort ? { monitorUrl: `http://127.0.0.1:${monitorPort}` } : {}) };
}

/** The GOMAXPROCS of a nats-server Weft starts: half the host's cores, at least 1 (deploy/go-servers.ts). */
export function natsServerEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { GOMAXPROCS: String(serverGoMaxProcs(Number(env.WEFT_NATS_GOMAXPROCS ?? 0))) };
}
