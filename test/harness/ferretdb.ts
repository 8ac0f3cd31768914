// A private FerretDB (SQLite backend) on a free port, for tests that stop and restart MongoDB.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./nats.js";

export interface PrivateMongo {
  url: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

export function ferretdbBinary(): string {
  return process.env.WEFT_FERRETDB_BIN ?? "ferretdb";
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

export async function startPrivateFerretDb(): Promise<PrivateMongo> {
  const dir = await mkdtemp(join(tmpdir(), "weft-ferret-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      ferretdbBinary(),
      [
        "--handler=sqlite",
        `--sqlite-url=file:${dir}/`,
        `--state-dir=${dir}`,
        `--listen-addr=127.0.0.1:${port}`,
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=error",
      ],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + 15_000;
    while (!(await listening(port))) {
      if (child.exitCode !== null) throw new Error(`ferretdb exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error("ferretdb did not start");
      await new Promise((r) => setTimeout(r, 50));
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
    url: `mongodb://127.0.0.1:${port}`,
    stop,
    restart: launch,
    cleanup: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
