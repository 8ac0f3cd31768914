// weft alias set | ls | rm: names that point to a version (or split traffic between versions by weight).
import type { Command } from "commander";
import type { Column } from "../output.js";
import { example, wholeNumber, type Context, type ContextOf } from "../program.js";
import { UsageError } from "../usage-error.js";
import { functionPath } from "./functions.js";

export interface Alias {
  name: string;
  functionName: string;
  version: number;
  weights?: Record<string, number>;
  updatedAt?: string;
}

const ALIAS_COLUMNS: Column<Alias>[] = [
  { header: "ALIAS", value: (a) => a.name },
  { header: "VERSION", value: (a) => a.version },
  { header: "WEIGHTS", value: (a) => (a.weights && Object.keys(a.weights).length ? Object.entries(a.weights).map(([v, w]) => `${v}=${w}`).join(",") : "-") },
  { header: "UPDATED", value: (a) => a.updatedAt },
];

const aliasPath = (fn: string, alias: string) => `${functionPath(fn)}/aliases/${encodeURIComponent(alias)}`;

export function aliasCommands(program: Command, ctx: ContextOf): void {
  const alias = example(
    program.command("alias").description("Aliases: names that point to a version, e.g. prod → 3"),
    "weft alias set hello prod 3",
    "weft alias set hello prod 3 --weight 4=0.1   # 10% of calls run version 4",
    "weft alias ls hello",
    "weft alias rm hello prod",
  );
  example(
    alias
      .command("set")
      .description("Point an alias at a version (creating it or moving it)")
      .argument("NAME", "the function")
      .argument("ALIAS", "the alias")
      .argument("VERSION", "the version it runs", wholeNumber("VERSION"))
      .option("--weight <version=weight...>", "send this share (0..1) of calls to another version", collectWeight, {})
      .action(async (fn: string, a: string, version: number, o: { weight: Record<string, number> }, cmd: Command) => set(ctx(cmd), fn, a, version, o.weight)),
    "weft alias set hello prod 3 --weight 4=0.1",
  );
  example(
    alias.command("ls").description("List a function's aliases").argument("NAME", "the function").action(async (fn: string, _o, cmd: Command) => list(ctx(cmd), fn)),
    "weft alias ls hello",
  );
  example(
    alias
      .command("rm")
      .description("Delete an alias")
      .argument("NAME", "the function")
      .argument("ALIAS", "the alias")
      .action(async (fn: string, a: string, _o, cmd: Command) => remove(ctx(cmd), fn, a)),
    "weft alias rm hello prod",
  );
}

function collectWeight(text: string, acc: Record<string, number>): Record<string, number> {
  const m = /^(\d{1,9})=(\d*\.?\d+)$/.exec(text);
  if (!m) throw new UsageError(`--weight: "${text}" is not VERSION=WEIGHT (for example 4=0.1)`);
  return { ...acc, [m[1]!]: Number(m[2]) };
}

async function set({ api, out }: Context, fn: string, a: string, version: number, weights: Record<string, number>): Promise<void> {
  const body = Object.keys(weights).length ? { version, weights } : { version };
  const result = await api.put<Alias>(aliasPath(fn, a), body);
  if (out.json) return out.data(result);
  const split = Object.entries(result.weights ?? {}).map(([v, w]) => `, ${w * 100}% to version ${v}`).join("");
  out.line(`${fn}:${result.name} → version ${result.version}${split}`);
}

async function list({ api, out }: Context, fn: string): Promise<void> {
  const body = await api.get<{ aliases: Alias[] }>(`${functionPath(fn)}/aliases`);
  out.table(body, body.aliases, ALIAS_COLUMNS, `${fn} has no aliases`);
}

async function remove({ api, out }: Context, fn: string, a: string): Promise<void> {
  const result = await api.delete<unknown>(aliasPath(fn, a));
  if (out.json) return out.data(result);
  out.line(`deleted alias ${fn}:${a}`);
}
