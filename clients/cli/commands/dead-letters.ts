// weft dead-letter ls | get | redrive | purge: a function's dead letters, async invocations that failed after their
// retries, expired, or were refused by loop detection (GET/POST/DELETE /v1/functions/{name}/dead-letters).
import type { Command } from "commander";
import type { Column } from "../output.js";
import { example, wholeNumber, type Context, type ContextOf } from "../program.js";
import { UsageError } from "../usage-error.js";
import { functionPath } from "./functions.js";

export interface DeadLetter {
  id: string;
  seq: number;
  functionName: string;
  version?: number;
  reason: string;
  status: string;
  error?: { code: string; message: string };
  attempts: unknown[];
  enqueuedAt: string;
  deadAt: string;
  chainDepth: number;
  message?: { subject: string; headers: Record<string, string> };
  event: unknown;
}

interface Page {
  deadLetters: DeadLetter[];
  next?: number;
}

const DEAD_LETTER_COLUMNS: Column<DeadLetter>[] = [
  { header: "ID", value: (d) => d.id },
  { header: "REASON", value: (d) => d.reason },
  { header: "STATUS", value: (d) => d.status },
  { header: "ERROR", value: (d) => d.error?.code },
  { header: "ATTEMPTS", value: (d) => d.attempts.length },
  { header: "VERSION", value: (d) => d.version },
  { header: "DEAD AT", value: (d) => d.deadAt },
];

const deadLettersPath = (fn: string) => `${functionPath(fn)}/dead-letters`;

export function deadLetterCommands(program: Command, ctx: ContextOf): void {
  const dead = example(
    program.command("dead-letter").alias("dead-letters").description("Dead letters: async invocations that failed for good, to inspect, re-drive or purge"),
    "weft dead-letter ls orders",
    "weft dead-letter get orders 7c0e…",
    "weft dead-letter redrive orders --all   # after fixing the code",
    "weft dead-letter purge orders",
  );
  example(
    dead
      .command("ls")
      .description("List a function's dead letters, oldest first")
      .argument("NAME", "the function")
      .option("--limit <n>", "how many (default 20, at most 1000)", wholeNumber("--limit"))
      .option("--after <seq>", "the page after this sequence (the `next` a previous page printed)", wholeNumber("--after"))
      .action(async (fn: string, o: { limit?: number; after?: number }, cmd: Command) => list(ctx(cmd), fn, o)),
    "weft dead-letter ls orders --limit 50 --json",
  );
  example(
    dead.command("get").description("One dead letter: its error, attempts and event").argument("NAME", "the function").argument("ID", "the failed invocation's id")
      .action(async (fn: string, id: string, _o, cmd: Command) => get(ctx(cmd), fn, id)),
    "weft dead-letter get orders 7c0e…",
  );
  example(
    dead
      .command("redrive")
      .description("Queue one dead letter (ID) or all (--all, up to 1000 a call) again as new async invocations of the latest version")
      .argument("NAME", "the function")
      .argument("[ID]", "the dead letter (the failed invocation's id)")
      .option("--all", "every dead letter of the function")
      .action(async (fn: string, id: string | undefined, o: { all?: boolean }, cmd: Command) => redrive(ctx(cmd), fn, id, o.all === true)),
    "weft dead-letter redrive orders --all",
  );
  example(
    dead.command("purge").description("Delete every dead letter of a function").argument("NAME", "the function").action(async (fn: string, _o, cmd: Command) => purge(ctx(cmd), fn)),
    "weft dead-letter purge orders",
  );
}

async function list({ api, out }: Context, fn: string, o: { limit?: number; after?: number }): Promise<void> {
  const page = (await api.call<Page>("GET", deadLettersPath(fn), { query: { limit: o.limit, after: o.after } })).body;
  out.table(page, page.deadLetters, DEAD_LETTER_COLUMNS, `no dead letters for ${fn}`);
  if (!out.json && page.next !== undefined) out.line(`more: weft dead-letter ls ${fn} --after ${page.next}`);
}

async function get({ api, out }: Context, fn: string, id: string): Promise<void> {
  const d = (await api.call<Page>("GET", deadLettersPath(fn), { query: { id } })).body.deadLetters[0]!;
  out.fields(d, [
    ["id", d.id], ["function", d.functionName], ["version", d.version], ["reason", d.reason], ["status", d.status],
    ["error", d.error ? `${d.error.code}: ${d.error.message}` : undefined], ["attempts", d.attempts.length], ["chain depth", d.chainDepth],
    ["enqueued at", d.enqueuedAt], ["dead at", d.deadAt], ["subject", d.message?.subject], ["headers", d.message?.headers], ["event", d.event],
  ]);
}

async function redrive({ api, out }: Context, fn: string, id: string | undefined, all: boolean): Promise<void> {
  if ((id !== undefined) === all) throw new UsageError("give either an ID or --all");
  const body = (await api.call<{ redriven: Array<{ id: string; invocationId: string }> }>("POST", `${deadLettersPath(fn)}/redrive`, { json: JSON.stringify(all ? { all: true } : { id }) })).body;
  if (out.json) return out.data(body);
  for (const r of body.redriven) out.line(`re-drove ${r.id} as invocation ${r.invocationId}`);
  if (body.redriven.length === 0) out.line(`no dead letters for ${fn}`);
}

async function purge({ api, out }: Context, fn: string): Promise<void> {
  const body = await api.delete<{ purged: number }>(deadLettersPath(fn));
  if (out.json) return out.data(body);
  out.line(`purged ${body.purged} dead letter${body.purged === 1 ? "" : "s"} of ${fn}`);
}
