// A server binary a test starts on a loopback port, in its own directory: start, stop, restart, clean up.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { connect } from "node:net";
import { batchScheduled, underBatch } from "../../shared/sched-batch.js";

export interface ServerProcess {
  /** Stops the server (SIGTERM) and waits for it to exit; its directory is kept for restart(). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same directory. */
  restart(): Promise<void>;
  /** Stops it and deletes its directory. */
  cleanup(): Promise<void>;
  /** Whether it is running (a test that failed half-way may have left it stopped). A method, not a getter: the
   * harnesses spread this object into their own. */
  isRunning(): boolean;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

/** Polls the port: a server that is starting has no other signal to await. */
async function waitForPort(name: string, port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await listening(port))) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startServerProcess(opts: {
  name: string;
  binary: string;
  args: string[];
  port: number;
  dir: string;
  startTimeoutMs?: number;
  /** Variables on top of this process's environment. */
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  let child: ChildProcess | undefined;
  let stderr = "";
  const launch = async () => {
    stderr = "";
    // Under SCHED_BATCH, as Weft starts nats-server and FerretDB (WEFT_SCHED_BATCH), so tests and benches run what ships.
    const { command, args } = underBatch(opts.binary, opts.args, batchScheduled());
    const c = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...opts.env } });
    child = c;
    c.stderr?.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    try {
      await waitForPort(opts.name, opts.port, c, opts.startTimeoutMs ?? 15_000);
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
    stop,
    restart: launch,
    isRunning: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    cleanup: async () => {
      await stop();
      await rm(opts.dir, { recursive: true, force: true });
    },
  };
}
