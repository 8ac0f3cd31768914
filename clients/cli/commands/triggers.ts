// weft trigger put | ls | get | rm | pause | resume: a NATS subject, a JetStream stream or a schedule that invokes a
// function (PUT /v1/triggers/{id} and its neighbours).
import type { Command } from "commander";
import type { Column } from "../output.js";
import { example, wholeNumber, type Context, type ContextOf } from "../program.js";
import { UsageError } from "../usage-error.js";

export interface Trigger {
  id: string;
  kind: string;
  function: string;
  version?: number;
  alias?: string;
  subject?: string;
  stream?: string;
  filterSubject?: string;
  schedule?: string;
  timezone?: string;
  state: string;
  counters: { delivered: number; failed: number; lag: number };
  nextTick?: string;
}

const source = (t: Trigger): string =>
  t.subject ?? (t.stream ? `${t.stream}${t.filterSubject ? ` (${t.filterSubject})` : ""}` : `${t.schedule}${t.timezone ? ` ${t.timezone}` : ""}`);
const target = (t: Trigger): string => `${t.function}${t.alias ? `:${t.alias}` : t.version ? `@${t.version}` : ""}`;

const TRIGGER_COLUMNS: Column<Trigger>[] = [
  { header: "ID", value: (t) => t.id },
  { header: "KIND", value: (t) => t.kind },
  { header: "SOURCE", value: source },
  { header: "FUNCTION", value: target },
  { header: "STATE", value: (t) => t.state },
  { header: "DELIVERED", value: (t) => t.counters.delivered },
  { header: "FAILED", value: (t) => t.counters.failed },
  { header: "LAG", value: (t) => t.counters.lag },
];

const triggerPath = (id: string) => `/v1/triggers/${encodeURIComponent(id)}`;

interface PutOptions {
  function: string;
  version?: number;
  alias?: string;
  subject?: string;
  stream?: string;
  filterSubject?: string;
  deliverPolicy?: string;
  maxInFlight?: number;
  ordered?: boolean;
  ordering?: string;
  schedule?: string;
  timezone?: string;
  event?: string;
  description?: string;
}

export function triggerCommands(program: Command, ctx: ContextOf): void {
  const trigger = example(
    program.command("trigger").description("Triggers: a NATS subject, a JetStream stream or a schedule that invokes a function"),
    "weft trigger put new-orders --function orders --subject 'orders.*.created'",
    "weft trigger put orders-log --function orders --stream ORDERS --filter-subject 'orders.eu.>' --max-in-flight 50",
    "weft trigger put nightly --function report --schedule '0 2 * * *' --timezone Europe/Paris",
    "weft trigger ls",
  );
  example(
    trigger
      .command("put")
      .description("Create or replace a trigger (exactly one of --subject, --stream, --schedule)")
      .argument("ID", "the trigger's id ([a-z][a-z0-9-]{0,62})")
      .requiredOption("--function <name>", "the function it invokes")
      .option("--version <n>", "run this version (default: the latest)", wholeNumber("--version"))
      .option("--alias <alias>", "run this alias's version")
      .option("--subject <subject>", "every message on this NATS subject or wildcard")
      .option("--stream <stream>", "every message of this JetStream stream (a durable consumer, at least once)")
      .option("--filter-subject <subject>", "stream: only these subjects")
      .option("--deliver-policy <policy>", "stream: all, new, last or lastPerSubject (default all)")
      .option("--max-in-flight <n>", "stream: messages handed out and not yet stored (default 100)", wholeNumber("--max-in-flight"))
      .option("--ordered", "stream: one at a time, each after the previous invocation ended")
      .option("--ordering <mode>", "stream: perSubject: one at a time per subject, in order; subjects in parallel")
      .option("--schedule <expr>", "a 5-field cron expression or rate(N unit)")
      .option("--timezone <zone>", "schedule: the IANA zone the cron expression is read in (default UTC)")
      .option("--event <json>", "schedule: the event of every tick")
      .option("--description <text>", "a note")
      .action(async (id: string, o: PutOptions, cmd: Command) => put(ctx(cmd), id, o)),
    "weft trigger put every-5m --function sweep --schedule 'rate(5 minutes)' --event '{\"full\":false}'",
  );
  example(trigger.command("ls").description("List the triggers with their state and counters").action(async (_o, cmd: Command) => list(ctx(cmd))), "weft trigger ls --json");
  example(trigger.command("get").description("One trigger").argument("ID").action(async (id: string, _o, cmd: Command) => get(ctx(cmd), id)), "weft trigger get new-orders");
  example(trigger.command("rm").description("Delete a trigger").argument("ID").action(async (id: string, _o, cmd: Command) => remove(ctx(cmd), id)), "weft trigger rm new-orders");
  example(trigger.command("pause").description("Pause a trigger").argument("ID").action(async (id: string, _o, cmd: Command) => pause(ctx(cmd), id, "pause")), "weft trigger pause new-orders");
  example(trigger.command("resume").description("Resume a paused trigger").argument("ID").action(async (id: string, _o, cmd: Command) => pause(ctx(cmd), id, "resume")), "weft trigger resume new-orders");
}

/** The PUT body from the options: only what was given, the event parsed as JSON. */
export function specOf(o: PutOptions): Record<string, unknown> {
  const kinds = [o.subject, o.stream, o.schedule].filter((k) => k !== undefined).length;
  if (kinds !== 1) throw new UsageError("give exactly one of --subject, --stream, --schedule");
  let event: unknown;
  if (o.event !== undefined) {
    try {
      event = JSON.parse(o.event);
    } catch {
      throw new UsageError(`--event: not JSON: ${o.event}`);
    }
  }
  const body: Record<string, unknown> = {
    function: o.function, version: o.version, alias: o.alias, description: o.description,
    subject: o.subject, stream: o.stream, filterSubject: o.filterSubject, deliverPolicy: o.deliverPolicy, maxInFlight: o.maxInFlight,
    ordered: o.ordered, ordering: o.ordering, schedule: o.schedule, timezone: o.timezone, event,
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

async function put({ api, out }: Context, id: string, o: PutOptions): Promise<void> {
  const t = await api.put<Trigger>(triggerPath(id), specOf(o));
  if (out.json) return out.data(t);
  out.line(`trigger ${t.id}: ${t.kind} ${source(t)} → ${target(t)} (${t.state})`);
}

async function list({ api, out }: Context): Promise<void> {
  const body = await api.get<{ triggers: Trigger[] }>("/v1/triggers");
  out.table(body, body.triggers, TRIGGER_COLUMNS, "no triggers");
}

async function get({ api, out }: Context, id: string): Promise<void> {
  const t = await api.get<Trigger>(triggerPath(id));
  out.fields(t, [
    ["id", t.id], ["kind", t.kind], ["source", source(t)], ["function", target(t)], ["state", t.state],
    ["delivered", t.counters.delivered], ["failed", t.counters.failed], ["lag", t.counters.lag], ["next tick", t.nextTick],
  ]);
}

async function remove({ api, out }: Context, id: string): Promise<void> {
  const result = await api.delete<unknown>(triggerPath(id));
  if (out.json) return out.data(result);
  out.line(`deleted trigger ${id}`);
}

async function pause({ api, out }: Context, id: string, what: "pause" | "resume"): Promise<void> {
  const t = (await api.call<Trigger>("POST", `${triggerPath(id)}/${what}`)).body;
  if (out.json) return out.data(t);
  out.line(`trigger ${t.id}: ${t.state}`);
}
