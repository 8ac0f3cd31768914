// `npm run compose -- <docker compose arguments>`: Docker Compose on deploy/compose/compose.yaml, with the images it
// needs built first (for up, create, run, start, restart) and their content-pinned tags passed in, and the agents'
// stop grace derived from their drain setting (deploy/stop-grace.ts). For example:
//   npm run compose -- up -d --wait        npm run compose -- ps        npm run compose -- down -v
import Dockerode from "dockerode";
import { spawn, spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createLogger } from "../../shared/logger.js";
import { DEFAULT_BASE_IMAGE } from "../images.js";
import { stopGraceMs } from "../stop-grace.js";
import { readWeftEnv } from "../weft-env.js";
import { buildComposeImages } from "./fabric-images.js";
import { serverGoMaxProcs } from "../go-servers.js";

const ROOT = resolve(import.meta.dirname, "../..");
export const COMPOSE_FILE = join(ROOT, "deploy/compose/compose.yaml");
const BUILDING_COMMANDS = new Set(["up", "create", "run", "start", "restart"]);

/** Docker Compose v2: WEFT_COMPOSE_BIN (deploy/services.sh --with-compose), else the docker CLI plugin. */
export function composeCommand(services: Record<string, string>): string[] {
  const bin = process.env.WEFT_COMPOSE_BIN ?? services.WEFT_COMPOSE_BIN;
  if (bin) return [bin];
  if (spawnSync("docker", ["compose", "version"], { stdio: "ignore" }).status === 0) return ["docker", "compose"];
  throw new Error("Docker Compose v2 is missing: bash deploy/services.sh --with-compose builds it through the Go module proxy");
}

/** The variables compose.yaml reads, as npm run compose sets them. */
export function composeEnv(env: NodeJS.ProcessEnv, images: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, ...images };
  out.WEFT_AGENT_STOP_GRACE ??= `${Math.ceil(stopGraceMs("agent", out) / 1000)}s`;
  // The nats-servers and FerretDB share the host with the fabric, as under npm run up (deploy/go-servers.ts).
  out.WEFT_SERVER_GOMAXPROCS ??= String(serverGoMaxProcs());
  return out;
}

/** Compose's global options that take a value (`-p name`): their value is not the command. */
const VALUED_OPTIONS = new Set(["-p", "--project-name", "-f", "--file", "--profile", "--env-file", "--project-directory", "--ansi", "--progress", "--parallel"]);

export function composeSubcommand(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUED_OPTIONS.has(a)) i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

async function main(args: string[]): Promise<number> {
  const services = readWeftEnv();
  let images: Record<string, string> = {};
  if (BUILDING_COMMANDS.has(composeSubcommand(args) ?? "")) {
    const log = createLogger("compose", process.env.WEFT_LOG_LEVEL ?? "warn");
    const docker = new Dockerode({ socketPath: process.env.WEFT_DOCKER_SOCKET ?? "/var/run/docker.sock" });
    const started = Date.now();
    images = { ...(await buildComposeImages({
      docker,
      base: process.env.WEFT_BASE_IMAGE || services.WEFT_BASE_IMAGE || DEFAULT_BASE_IMAGE,
      natsServerBin: services.WEFT_NATS_SERVER_BIN ?? "nats-server",
      ferretdbBin: services.WEFT_FERRETDB_BIN ?? "ferretdb",
      log,
    })) };
    process.stderr.write(`weft compose: images ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.values(images).join(", ")}\n`);
  }
  const [command, ...pre] = composeCommand(services);
  // From here Ctrl-C is Compose's to handle (it reaches it too, in the same process group): it stops what it started.
  process.on("SIGINT", () => {});
  const child = spawn(command!, [...pre, "-f", COMPOSE_FILE, ...args], { stdio: "inherit", env: composeEnv(process.env, images) });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once("exit", (c, s) => r([c, s])));
  return code ?? (signal ? 128 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`weft compose: ${err.message}\n`);
      process.exit(1);
    },
  );
}
