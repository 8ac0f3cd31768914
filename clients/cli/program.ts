// The command tree (commander: the most used Node CLI library, maintained, typed, with subcommands, help and
// usage errors built in) and the exit codes scripts rely on: 0 done, 1 the call failed (an API error, or an
// invocation that ended in error, timeout or kill), 2 the command was used wrongly.
import { Command, CommanderError, Option } from "commander";
import type { Readable, Writable } from "node:stream";
import { ApiClient, ApiError } from "./api-client.js";
import { functionCommands } from "./commands/functions.js";
import { invocationCommands } from "./commands/invocations.js";
import { fabricCommands } from "./commands/fabric.js";
import { aliasCommands } from "./commands/aliases.js";
import { triggerCommands } from "./commands/triggers.js";
import { deadLetterCommands } from "./commands/dead-letters.js";
import { Output } from "./output.js";
import { CallFailed, UsageError } from "./usage-error.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface Io {
  env: NodeJS.ProcessEnv;
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable;
  stderr: Writable;
}

/** What every command's action gets: the API at --url / WEFT_URL, the printer (--json), stdin. */
export interface Context {
  api: ApiClient;
  out: Output;
  stdin: Io["stdin"];
}

export type ContextOf = (cmd: Command) => Context;

export async function run(argv: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (err) {
    return report(err, io.stderr);
  }
}

export function buildProgram(io: Io): Command {
  const program = new Command("weft")
    .description("Deploy, invoke and watch functions on a Weft fabric")
    .addOption(new Option("--url <url>", "the gateway's HTTP address").env("WEFT_URL").default(DEFAULT_URL))
    .option("--json", "print JSON for scripts instead of tables")
    .showHelpAfterError("(add --help for usage)")
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();
  program.addHelpText("after", "\nExamples:\n  $ weft deploy ./hello.py\n  $ weft invoke hello --data '{\"name\":\"weft\"}'\n  $ WEFT_URL=http://gw:8080 weft ls --json");
  const contextOf: ContextOf = (cmd) => {
    const o = cmd.optsWithGlobals<{ url: string; json?: boolean }>();
    return { api: new ApiClient(checkUrl(o.url)), out: new Output(o.json === true, io.stdout, io.stderr), stdin: io.stdin };
  };
  for (const add of [functionCommands, invocationCommands, fabricCommands, aliasCommands, triggerCommands, deadLetterCommands]) add(program, contextOf);
  // Subcommands share the root's output, exit override and error display.
  for (const cmd of allCommands(program)) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) }).showHelpAfterError("(add --help for usage)");
  }
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

function checkUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http");
    return url;
  } catch {
    throw new UsageError(`--url: "${url}" is not an http(s) URL`);
  }
}

function report(err: unknown, stderr: Writable): number {
  if (err instanceof CommanderError) {
    // commander has already printed the problem, or the help: asked for (0), or shown for a missing command (2).
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof UsageError) {
    stderr.write(`error: ${err.message}\n(add --help for usage)\n`);
    return EXIT.usage;
  }
  if (err instanceof ApiError) {
    stderr.write(`error: ${err.code}: ${err.message}\n`);
    return EXIT.failed;
  }
  if (err instanceof CallFailed) {
    stderr.write(`${err.message}\n`);
    return EXIT.failed;
  }
  stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.failed;
}

/** A positive whole number from a flag (a version, a limit). */
export function wholeNumber(option: string) {
  return (text: string): number => {
    if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw new UsageError(`${option}: "${text}" is not a whole number ≥ 1`);
    return Number(text);
  };
}

/** Adds "Example:" lines to a command's --help. */
export function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText("after", `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}`);
}
