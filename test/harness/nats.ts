// Starts a real nats-server with JetStream for a test file, on free loopback ports, in its own store directory.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { LIMITS } from "../../shared/limits.js";

export interface NatsServer {
  url: string;
  port: number;
  /** Stops the server (SIGTERM) and waits for it to exit; the store is kept for restart(). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  restart(): Promise<void>;
  /** Stops it and deletes its store. */
  cleanup(): Promise<void>;
}

export function natsServerBinary(): string {
  return process.env.WEFT_NATS_SERVER_BIN ?? "nats-server";
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const addr = srv.address();
  srv.close();
  if (!addr || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const { connect } = await import("node:net");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nats-server did not listen on ${port}`);
}

export async function startNats(): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), "weft-nats-"));
  const port = await freePort();
  const conf = join(dir, "nats.conf");
  await writeFile(
    conf,
    [
      `listen: 127.0.0.1:${port}`,
      `max_payload: ${LIMITS.natsMaxPayloadBytes}`,
      `jetstream { store_dir: "${join(dir, "js")}" }`,
    ].join("\n"),
  );
  let child: ChildProcess | undefined;
  let stderr = "";
  const launch = async () => {
    stderr = "";
    child = spawn(natsServerBinary(), ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    try {
      await waitForPort(port, child);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${stderr}`);
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    c.kill("SIGTERM");
    await once(c, "exit");
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop,
    restart: launch,
    cleanup: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
