// weft invoke, status, invocations, logs, metrics: running functions and reading what they did.
import { Option, type Command } from "commander";
import { setTimeout as sleep } from "node:timers/promises";
import { parseDuration } from "../duration.js";
import { eventText } from "../event-input.js";
import { ms, showValue, type Column } from "../output.js";
import { example, wholeNumber, type Context, type ContextOf } from "../program.js";
import { serverEvents } from "../server-events.js";
import { awaitBuild, buildReport, describeBuild } from "../build-state.js";
import { CallFailed, UsageError } from "../usage-error.js";
import { functionPath } from "./functions.js";

const FINAL = ["ok", "error", "timeout", "killed"];

export interface InvocationRecord {
  invocationId: string;
  functionName: string;
  version?: number;
  alias?: string;
  status: string;
  output?: unknown;
  error?: { code: string; message: string };
  durationMs?: number;
  coldStart?: boolean;
  agent?: string;
  logs?: string;
  enqueuedAt?: string;
  finishedAt?: string;
}

const RECORD_COLUMNS: Column<InvocationRecord>[] = [
  { header: "INVOCATION", value: (r) => r.invocationId },
  { header: "STATUS", value: (r) => r.status },
  { header: "VERSION", value: (r) => r.version },
  { header: "DURATION", value: (r) => ms(r.durationMs) },
  { header: "COLD", value: (r) => r.coldStart },
  { header: "AGENT", value: (r) => r.agent },
  { header: "ENQUEUED", value: (r) => r.enqueuedAt },
];

export function invocationCommands(program: Command, ctx: ContextOf): void {
  example(
    program
      .command("invoke")
      .description("Invoke a function and print its output (the event from --data, a file, or stdin)")
      .argument("NAME", "the function")
      .option("--data <json|@file>", "the event as JSON, or @file to read it from a file (default: stdin, else {})")
      .option("--async", "queue it and print the invocation id instead of waiting")
      .option("--version <N>", "run this version", wholeNumber("--version"))
      .option("--alias <alias>", "run the version this alias points to")
      .option("--verbose", "also print logs, duration, cold/warm and agent (to stderr)")
      .action(async (name: string, o: InvokeOptions, cmd: Command) => invoke(ctx(cmd), name, o)),
    "weft invoke hello --data '{\"name\":\"weft\"}'",
    "echo '{\"name\":\"weft\"}' | weft invoke hello --verbose",
    "weft invoke hello --data @event.json --async",
  );
  example(
    program
      .command("status")
      .description("Show an invocation's record: queued, running, or how it ended")
      .argument("INVOCATION_ID", "the invocation")
      .option("--wait", "wait until it has ended")
      .action(async (id: string, o: { wait?: boolean }, cmd: Command) => status(ctx(cmd), id, o.wait === true)),
    "weft status 7c0e… --wait",
  );
  example(
    program
      .command("invocations")
      .description("List a function's newest invocations")
      .argument("NAME", "the function")
      .option("--limit <N>", "how many (default 20)", wholeNumber("--limit"))
      .action(async (name: string, o: { limit?: number }, cmd: Command) => invocations(ctx(cmd), name, o.limit)),
    "weft invocations hello --limit 5",
  );
  example(
    program
      .command("logs")
      .description("Print a function's recent log lines, with invocation id and time")
      .argument("NAME", "the function")
      .option("--follow", "keep printing the lines of new invocations as they finish")
      .option("--since <duration|time>", "only invocations of this recent window (90s, 10m, 1h) or since an RFC 3339 time")
      .addOption(new Option("--status <status>", "only invocations that ended so").choices(FINAL))
      .option("--limit <N>", "the newest N lines (default 100)", wholeNumber("--limit"))
      .option("--build", "print the build log of the latest version (or --version N) instead; waits while it builds")
      .option("--version <N>", "with --build: this version", wholeNumber("--version"))
      .action(async (name: string, o: LogsOptions, cmd: Command) => logs(ctx(cmd), name, o)),
    "weft logs hello --since 10m --status error",
    "weft logs hello --follow",
    "weft logs stats --build --version 2",
  );
  example(
    program
      .command("metrics")
      .description("Counts, errors, cold starts and duration percentiles over a recent window")
      .argument("NAME", "the function")
      .option("--window <duration>", "the window, up to now (default: the gateway's, 24h)")
      .action(async (name: string, o: { window?: string }, cmd: Command) => metrics(ctx(cmd), name, o.window)),
    "weft metrics hello --window 1h",
  );
}

interface InvokeOptions {
  data?: string;
  async?: boolean;
  version?: number;
  alias?: string;
  verbose?: boolean;
}

async function invoke({ api, out, stdin }: Context, name: string, o: InvokeOptions): Promise<void> {
  if (o.version !== undefined && o.alias !== undefined) throw new UsageError("--version and --alias cannot be combined");
  const json = await eventText(o.data, stdin);
  const query = { async: o.async ? "true" : undefined, version: o.version, alias: o.alias };
  const reply = await api.call<Record<string, unknown>>("POST", `${functionPath(name)}/invoke`, { query, json });
  if (reply.status === 202) return accepted(out, reply.body as { invocationId: string; status: string });
  const result = reply.body as unknown as InvocationRecord;
  if (o.verbose) describe(out, result);
  if (out.json) out.data(result);
  else if (result.status === "ok") out.line(showValue(result.output ?? null));
  if (result.status !== "ok") throw new CallFailed(failure(result));
}

function accepted(out: Context["out"], body: { invocationId: string; status: string }): void {
  if (out.json) return out.data(body);
  out.line(body.invocationId);
  out.note(body.status === "queued" ? `queued; see it with: weft status ${body.invocationId} --wait` : `still running; see it with: weft status ${body.invocationId} --wait`);
}

function describe(out: Context["out"], r: InvocationRecord): void {
  if (r.logs) out.note(r.logs.replace(/\n$/, ""));
  const parts = [`invocation ${r.invocationId}`, `version ${r.version ?? "-"}`, ms(r.durationMs), r.coldStart ? "cold" : "warm", `agent ${r.agent ?? "-"}`];
  out.note(`-- ${parts.join(" · ")}`);
}

function failure(r: InvocationRecord): string {
  return `error: ${r.status}${r.error ? `: ${r.error.code}: ${r.error.message}` : ""} (invocation ${r.invocationId})`;
}

async function status({ api, out }: Context, id: string, wait: boolean): Promise<void> {
  const path = `/v1/invocations/${encodeURIComponent(id)}`;
  let record = await api.get<InvocationRecord>(path);
  // Polling is what the API offers for one invocation; the interval grows to a second.
  for (let delay = 100; wait && !FINAL.includes(record.status); delay = Math.min(delay * 2, 1000)) {
    await sleep(delay);
    record = await api.get<InvocationRecord>(path);
  }
  out.fields(record, [
    ["invocation", record.invocationId],
    ["function", record.functionName],
    ["version", record.version],
    ["status", record.status],
    ["error", record.error ? `${record.error.code}: ${record.error.message}` : undefined],
    ["duration", record.durationMs === undefined ? undefined : ms(record.durationMs)],
    ["cold start", record.coldStart],
    ["agent", record.agent],
    ["enqueued", record.enqueuedAt],
    ["finished", record.finishedAt],
    ["output", record.output === undefined ? undefined : JSON.stringify(record.output)],
  ]);
  if (!out.json && record.logs) out.line(`logs:\n${record.logs.replace(/\n$/, "")}`);
  if (FINAL.includes(record.status) && record.status !== "ok") throw new CallFailed(failure(record));
}

async function invocations({ api, out }: Context, name: string, limit: number | undefined): Promise<void> {
  const body = await api.get<{ invocations: InvocationRecord[] }>(`${functionPath(name)}/invocations`, { limit });
  out.table(body, body.invocations, RECORD_COLUMNS, `${name} has no invocations`);
}

interface LogsOptions {
  build?: boolean;
  version?: number;
  follow?: boolean;
  since?: string;
  status?: string;
  limit?: number;
}

/** One log line as the API gives it: when its invocation ended, which one, the text. */
interface LogLine {
  time: string;
  invocationId: string;
  line: string;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** --since as the API takes it: a duration (90s, 10m, 1h, 2d) or an RFC 3339 time. */
function sinceOf(text: string): string {
  if (RFC3339.test(text)) return text;
  const ms = parseDuration(text, "--since");
  return /^\d+(ms|s|m|h|d)$/.test(text) ? text : `${ms}ms`;
}

/** GET /v1/functions/{name}/logs; with --follow its Server-Sent Events stream. */
async function logs(c: Context, name: string, o: LogsOptions): Promise<void> {
  if (o.build) {
    if (o.follow || o.since !== undefined || o.status !== undefined || o.limit !== undefined) {
      throw new UsageError("--build prints one build's log: it takes --version only, no --follow, --since, --status or --limit");
    }
    return buildLogs(c, name, o.version);
  }
  if (o.version !== undefined) throw new UsageError("--version goes with --build (invocation logs cover every version)");
  const since = o.since === undefined ? undefined : sinceOf(o.since);
  if (o.follow) {
    if (since !== undefined || o.limit !== undefined) throw new UsageError("--follow prints what happens from now on: it takes no --since or --limit");
    return followLogs(c, name, o.status);
  }
  const { lines } = await c.api.get<{ lines: LogLine[] }>(`${functionPath(name)}/logs`, { since, status: o.status, limit: o.limit });
  if (c.out.json) return c.out.data({ lines });
  if (lines.length === 0) return c.out.note(`no log lines from ${name}`);
  for (const l of lines) printLine(c, l);
}

/** GET /v1/functions/{name}/versions/{v}/build, once the build has ended (the log is stored when it ends). */
async function buildLogs(c: Context, name: string, version: number | undefined): Promise<void> {
  const v = version ?? (await c.api.get<{ version: number }>(functionPath(name))).version;
  await awaitBuild(c.api, name, v, () => c.out.note(`${name} version ${v} is building; its log follows when the build ends (Ctrl-C to stop waiting)`));
  const report = await buildReport(c.api, name, v);
  if (c.out.json) c.out.data(report);
  else {
    c.out.raw(report.log.endsWith("\n") || report.log === "" ? report.log : `${report.log}\n`);
    c.out.note(`-- ${name} version ${v}: ${describeBuild(report.build)}`);
  }
  if (report.build.status === "failed") throw new CallFailed(`error: BUILD_FAILED: the build of ${name} version ${v} failed`);
}

function printLine({ out }: Context, l: LogLine): void {
  if (out.json) out.raw(`${JSON.stringify(l)}\n`);
  else out.line(`${l.time}  ${l.invocationId}  ${l.line}`);
}

/** Each `logs` event carries one ended invocation's lines; `lagged` says some were missed. */
async function followLogs(c: Context, name: string, status: string | undefined): Promise<void> {
  const res = await c.api.stream(`${functionPath(name)}/logs`, { follow: "true", status });
  // The gateway answers once it is subscribed: what ends from here on is printed.
  c.out.note(`following ${name}'s logs (Ctrl-C to stop)`);
  for await (const message of serverEvents(res.body!)) {
    if (message.event === "lagged") c.out.note("(some lines were missed: this terminal read too slowly)");
    if (message.event !== "logs") continue;
    for (const l of linesIn(message.data)) printLine(c, l);
  }
}

function linesIn(data: string): LogLine[] {
  try {
    const parsed = JSON.parse(data) as { lines?: unknown };
    return Array.isArray(parsed.lines) ? parsed.lines.filter((l): l is LogLine => typeof (l as LogLine)?.line === "string") : [];
  } catch {
    return [];
  }
}

interface Metrics {
  functionName: string;
  windowMs: number;
  count: number;
  ok: number;
  errors: number;
  timeouts: number;
  killed: number;
  coldStarts: number;
  durationMs: Record<"p50" | "p95" | "p99" | "mean" | "max", number | null>;
}

async function metrics({ api, out }: Context, name: string, window: string | undefined): Promise<void> {
  const windowMs = window === undefined ? undefined : parseDuration(window, "--window");
  const m = await api.get<Metrics>(`${functionPath(name)}/metrics`, { windowMs });
  const d = m.durationMs;
  out.fields(m, [
    ["function", m.functionName],
    ["window", `${m.windowMs / 1000}s`],
    ["invocations", m.count],
    ["ok", m.ok],
    ["errors", m.errors],
    ["timeouts", m.timeouts],
    ["killed", m.killed],
    ["cold starts", m.coldStarts],
    ["duration", `p50 ${ms(d.p50)} · p95 ${ms(d.p95)} · p99 ${ms(d.p99)} · mean ${ms(d.mean)} · max ${ms(d.max)}`],
  ]);
}
