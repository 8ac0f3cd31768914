// How long a supervisor (npm run up, systemd's TimeoutStopSec, Compose's stop_grace_period) lets a program stop
// before it kills it: the program's own drain bound, read from the same variable the program reads, plus a margin
// for the steps after the drain (removing containers, flushing records, closing connections). A supervisor that
// killed sooner would cut a drain short: calls would wait out a whole AckWait instead of being handed back, and
// containers would be left behind until the next start.
//   node --import tsx deploy/stop-grace.ts <component> [env files...]   prints the grace in whole seconds
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { agentFields } from "../agents/config.js";
import { gatewayFields } from "../gateway/config.js";
import { envField, intFromEnv, parseEnv } from "../shared/config.js";

export const STOP_GRACE_COMPONENTS = ["nats-server", "controller", "agent", "gateway"] as const;
export type GracedComponent = (typeof STOP_GRACE_COMPONENTS)[number];

export const DEFAULT_STOP_MARGIN_MS = 15_000;

export const stopMarginField = envField(
  "WEFT_STOP_MARGIN_MS",
  intFromEnv(DEFAULT_STOP_MARGIN_MS, 1000),
  "time a program gets to stop beyond its own drain bound (WEFT_DRAIN_TIMEOUT_MS, WEFT_SHUTDOWN_GRACE_MS) before it is killed (npm run up; also systemd's TimeoutStopSec and Compose's stop_grace_period)",
);

/** The program's own bound on its drain, from the field definition the program itself parses. */
function drainBoundMs(component: GracedComponent, env: NodeJS.ProcessEnv): number {
  switch (component) {
    case "agent":
      return parseEnv({ drain: agentFields.drainTimeoutMs }, env).drain;
    case "gateway":
      return parseEnv({ drain: gatewayFields.shutdownGraceMs }, env).drain;
    case "controller":
    case "nats-server":
      return 0; // no drain of their own: their stop steps are bounded by a few seconds each
  }
}

/** Milliseconds between SIGTERM and SIGKILL for the component, given the environment it runs with. */
export function stopGraceMs(component: GracedComponent, env: NodeJS.ProcessEnv): number {
  return drainBoundMs(component, env) + parseEnv({ margin: stopMarginField }, env).margin;
}

/** KEY=value lines (systemd EnvironmentFile and Compose env_file syntax, without quoting rules beyond plain values). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined) env[m[1]] = unquote(m[2] ?? "");
  }
  return env;
}

function unquote(v: string): string {
  return /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v;
}

function main(argv: string[]): void {
  const [component, ...files] = argv;
  if (!STOP_GRACE_COMPONENTS.includes(component as GracedComponent)) {
    throw new Error(`usage: stop-grace.ts <${STOP_GRACE_COMPONENTS.join("|")}> [env files...]`);
  }
  // Later files win, as with several EnvironmentFile= lines.
  const env = Object.assign({}, ...files.map((f) => parseEnvFile(readFileSync(f, "utf8")))) as Record<string, string>;
  console.log(Math.ceil(stopGraceMs(component as GracedComponent, env) / 1000));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(`deploy/stop-grace.ts: ${(err as Error).message}`);
    process.exit(2);
  }
}
