// A private FerretDB (SQLite backend) on a free port, for tests that stop and restart MongoDB.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serverGoMaxProcs } from "../../deploy/go-servers.js";
import { freePort } from "./nats.js";
import { startServerProcess, type ServerProcess } from "./server-process.js";

export interface PrivateMongo extends ServerProcess {
  url: string;
}

export function ferretdbBinary(): string {
  return process.env.WEFT_FERRETDB_BIN ?? "ferretdb";
}

export async function startPrivateFerretDb(): Promise<PrivateMongo> {
  const dir = await mkdtemp(join(tmpdir(), "weft-ferret-"));
  const port = await freePort();
  const args = [
    "--handler=sqlite",
    `--sqlite-url=file:${dir}/`,
    `--state-dir=${dir}`,
    `--listen-addr=127.0.0.1:${port}`,
    `--debug-addr=${process.env.WEFT_FERRETDB_DEBUG_ADDR ?? "-"}`, // e.g. 127.0.0.1:8089 for /debug/pprof while a bench runs
    "--telemetry=disable",
    "--log-level=error",
  ];
  const server = await startServerProcess({ name: "ferretdb", binary: ferretdbBinary(), args, port, dir, env: ferretdbEnv() });
  return { ...server, url: `mongodb://127.0.0.1:${port}` };
}

/**
 * The Go settings of a FerretDB Weft starts, as deploy/services.sh sets them: GOGC 400 (about a fifth less CPU per
 * record) and half the host's cores as GOMAXPROCS (deploy/go-servers.ts).
 */
export function ferretdbEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { GOGC: env.WEFT_FERRETDB_GOGC ?? "400", GOMAXPROCS: String(serverGoMaxProcs(Number(env.WEFT_FERRETDB_GOMAXPROCS ?? 0))) };
}
