// weft agents and weft exec: the fabric's agents, and code run once without deploying it.
import { RUNTIME_BY_EXTENSION, RUNTIME_NAMES } from "../../../shared/runtimes.js";
import { Option, type Command } from "commander";
import { extname } from "node:path";
import { ApiError, isMissingRoute } from "../api-client.js";
import { eventText, readAll, readFileOr } from "../event-input.js";
import { ms, type Column } from "../output.js";
import { example, type Context, type ContextOf } from "../program.js";
import { CallFailed, UsageError } from "../usage-error.js";

interface Agent {
  agentId: string;
  host: string;
  state: string;
  slots: number;
  busy: number;
  containers: number;
  stemCells: number;
  lastSeenMs: number;
  startedAt?: number;
  memoryMb?: { used: number; total: number };
}

const AGENT_COLUMNS: Column<Agent>[] = [
  { header: "AGENT", value: (a) => a.agentId },
  { header: "HOST", value: (a) => a.host },
  { header: "STATE", value: (a) => a.state },
  { header: "SLOTS", value: (a) => `${a.busy}/${a.slots}` },
  { header: "CONTAINERS", value: (a) => a.containers },
  { header: "STEM CELLS", value: (a) => a.stemCells },
  { header: "MEMORY", value: (a) => (a.memoryMb ? `${Math.round(a.memoryMb.used)}/${Math.round(a.memoryMb.total)}MB` : undefined) },
  { header: "UPTIME", value: (a) => (a.startedAt ? `${Math.round((Date.now() - a.startedAt) / 1000)}s` : undefined) },
  { header: "SEEN", value: (a) => `${ms(a.lastSeenMs)} ago` },
];


export function fabricCommands(program: Command, ctx: ContextOf): void {
  example(
    program.command("agents").description("List the live agents: slots, containers, stem cells").action(async (_o, cmd: Command) => agents(ctx(cmd))),
    "weft agents",
  );
  example(
    program
      .command("exec")
      .description("Run code once in a fresh sandbox, without deploying it; prints its stdout and stderr")
      .argument("FILE", "the code, or - to read it from stdin")
      .addOption(new Option("--runtime <runtime>", "python3, nodejs, typescript or an exact one (python3.11, nodejs18, ...; default: from the file's extension)").choices(RUNTIME_NAMES))
      .option("--stdin <text|@file>", "what the program reads on stdin")
      .addOption(new Option("--mode <mode>", "script: run it as a program; handler: call its handler(event)").choices(["script", "handler"]))
      .option("--data <json|@file>", "the event, in handler mode")
      .addOption(new Option("--isolation <isolation>", "the sandbox").choices(["runc", "gvisor"]))
      .action(async (file: string, o: ExecOptions, cmd: Command) => exec(ctx(cmd), file, o)),
    "weft exec --runtime python3 script.py",
    "echo 'print(6*7)' | weft exec --runtime python3 -",
  );
}

async function agents({ api, out }: Context): Promise<void> {
  const body = await agentList(api);
  out.table(body, body.agents, AGENT_COLUMNS, "no live agents");
}

/** GET /v1/agents; a gateway without it lists the agents it has heard from in GET /healthz (200 or 503). */
async function agentList(api: Context["api"]): Promise<{ agents: Agent[] }> {
  try {
    return await api.get<{ agents: Agent[] }>("/v1/agents");
  } catch (err) {
    if (!isMissingRoute(err)) throw err;
  }
  const health = await api.call<{ agents?: Agent[] }>("GET", "/healthz").catch((err: unknown) => {
    if (err instanceof ApiError && err.httpStatus === 503) return { body: { agents: [] as Agent[] } };
    throw err;
  });
  return { agents: health.body.agents ?? [] };
}

interface ExecOptions {
  runtime?: string;
  stdin?: string;
  mode?: string;
  data?: string;
  isolation?: string;
}

interface Execution {
  invocationId: string;
  status: string;
  error?: { code: string; message: string };
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  output?: unknown;
  durationMs?: number;
}

async function exec(c: Context, file: string, o: ExecOptions): Promise<void> {
  const runtime = o.runtime ?? RUNTIME_BY_EXTENSION[extname(file)];
  if (!runtime) throw new UsageError("--runtime: required when the code comes from stdin or a file without a .py, .js or .ts extension");
  if (file === "-" && o.stdin === undefined && o.data === undefined && c.stdin.isTTY) throw new UsageError("FILE: - reads the code from stdin, which is a terminal");
  const code = file === "-" ? await readAll(c.stdin) : await readFileOr(file, "FILE");
  const stdin = o.stdin === undefined ? undefined : o.stdin.startsWith("@") ? await readFileOr(o.stdin.slice(1), "--stdin") : o.stdin;
  const event = o.data === undefined ? undefined : JSON.parse((await eventText(o.data, c.stdin)) || "{}");
  const body = { runtime, code, mode: o.mode, stdin, event, isolation: o.isolation };
  const reply = await c.api.call<Execution>("POST", "/v1/execute", { json: JSON.stringify(body) });
  const r = reply.body;
  if (c.out.json) c.out.data(r);
  else {
    if (r.stdout) c.out.raw(r.stdout);
    if (r.stderr) c.out.note(r.stderr.replace(/\n$/, ""));
    if (r.output !== undefined) c.out.line(JSON.stringify(r.output, null, 2));
  }
  if (r.status !== "ok") throw new CallFailed(`error: ${r.status}${r.error ? `: ${r.error.code}: ${r.error.message}` : ""} (invocation ${r.invocationId})`);
}
