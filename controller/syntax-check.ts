// Deploy-time parse of a function's code, so code that cannot load is refused with INVALID_ARGUMENT "code"
// instead of failing at its first invocation. The agent still reports INIT_ERROR for anything that slips by
// (a missing handler, an import that fails): this check is an early answer, not the guarantee.
import { spawn } from "node:child_process";
import { compileFunction } from "node:vm";
import type { Logger } from "pino";
import { RUNTIME_INFO, languageOf, type Runtime } from "../shared/runtimes.js";

export interface SyntaxCheckOptions {
  pythonBin: string;
  timeoutMs?: number;
}

/** What a runner process concluded: a syntax problem, no problem, or that it could not tell. */
type Verdict = { kind: "ok" } | { kind: "syntax"; message: string } | { kind: "unknown"; reason: string };

/**
 * Parses as the runtime's Python (argv[1] is its minor version): an interpreter as new as the runtime parses with
 * its grammar (feature_version, best effort). An older one parses with its own and refuses what fails, except a
 * line that uses syntax newer Pythons added (PEP 695 type parameters and `type` statements, PEP 701 f-strings):
 * that code is left to the agent rather than refused wrongly.
 */
const PY_CHECK = [
  "import ast, re, sys",
  "minor = int(sys.argv[1])",
  "try:",
  "    ast.parse(sys.stdin.buffer.read(), feature_version=(3, min(minor, sys.version_info[1])))",
  "except SyntaxError as e:",
  "    newer = r\"^\\s*type\\s+\\w|^\\s*(async\\s+)?def\\s+\\w+\\s*\\[|^\\s*class\\s+\\w+\\s*\\[|\\bf['\\\"]\"",
  "    if sys.version_info[:2] < (3, minor) and re.search(newer, e.text or ''):",
  "        sys.exit(4)",
  "    print(f'line {e.lineno}: {e.msg}')",
  "    sys.exit(3)",
].join("\n");
const PY_SYNTAX_EXIT = 3;
const PY_NEWER_SYNTAX_EXIT = 4;

export class SyntaxChecker {
  private pythonMissing = false;

  constructor(
    private readonly opts: SyntaxCheckOptions,
    private readonly log: Logger,
  ) {}

  /** The problem in words ("line 3: ..."), or null when the code parses or cannot be checked here. */
  async check(runtime: Runtime, code: string): Promise<string | null> {
    const verdict = await this.verdict(runtime, code);
    if (verdict.kind === "syntax") return verdict.message;
    if (verdict.kind === "unknown") this.log.warn({ runtime, reason: verdict.reason }, "syntax check skipped");
    return null;
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? 5000;
  }

  private verdict(runtime: Runtime, code: string): Promise<Verdict> {
    switch (languageOf(runtime)) {
      case "python":
        return this.checkPython(code, RUNTIME_INFO[runtime].version);
      case "javascript":
        return checkNode(code, this.timeoutMs);
      case "typescript":
        // Parsed by the transpiler at deploy (shared/typescript.ts), which names the file, line and column.
        return Promise.resolve({ kind: "ok" });
      case "rust":
        // Compiled by cargo in the build, whose log names the file, line and column.
        return Promise.resolve({ kind: "ok" });
    }
  }

  private async checkPython(code: string, version: string): Promise<Verdict> {
    if (this.pythonMissing) return { kind: "ok" };
    const minor = version.split(".")[1] ?? "0";
    const run = await runWithStdin(this.opts.pythonBin, ["-c", PY_CHECK, minor], code, this.timeoutMs);
    if (run.spawnError) {
      // Without an interpreter here the agent's INIT_ERROR is the answer; say so once, not on every PUT.
      this.pythonMissing = true;
      return { kind: "unknown", reason: `${this.opts.pythonBin}: ${run.spawnError}` };
    }
    if (run.code === 0) return { kind: "ok" };
    if (run.code === PY_SYNTAX_EXIT) return { kind: "syntax", message: run.stdout.trim() || "invalid syntax" };
    if (run.code === PY_NEWER_SYNTAX_EXIT) return { kind: "unknown", reason: `${this.opts.pythonBin} is older than Python ${version}` };
    return { kind: "unknown", reason: `${this.opts.pythonBin} exited ${run.code ?? run.signal}: ${run.stderr.slice(0, 300)}` };
  }
}

/**
 * Node code is parsed as the body of a CommonJS module function, as the runtime loads it. Code that is not
 * valid CommonJS but is a valid ES module (export/import syntax) is accepted too: whether the runtime can
 * load it is the agent's call, and this check must never refuse code that might run.
 */
async function checkNode(code: string, timeoutMs: number): Promise<Verdict> {
  const cjsError = parseAsCommonJs(code);
  if (!cjsError) return { kind: "ok" };
  if (!/\b(import|export)\b/.test(code)) return { kind: "syntax", message: cjsError };
  const run = await runWithStdin(process.execPath, ["--input-type=module", "--check"], code, timeoutMs);
  if (run.code === 0) return { kind: "ok" };
  return { kind: "syntax", message: moduleError(run.stderr) ?? cjsError };
}

/** `node --check` prints "[stdin]:LINE", the source line, a caret, then "SyntaxError: ...". */
function moduleError(stderr: string): string | null {
  const message = /^SyntaxError: (.*)$/m.exec(stderr)?.[1];
  if (!message) return null;
  const line = /^\[stdin\]:(\d+)/m.exec(stderr)?.[1];
  return line ? `line ${line}: ${message}` : message;
}

/** Compiles (never runs) the code as a function body with the CommonJS module parameters, as Node loads it. */
function parseAsCommonJs(code: string): string | null {
  try {
    compileFunction(code, ["exports", "require", "module", "__filename", "__dirname"], { filename: "handler.js" });
    return null;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return `${lineOf(err)}${err.message}`;
  }
}

/** V8 puts "handler.js:LINE" first in the stack of a SyntaxError from compiled code. */
function lineOf(err: SyntaxError): string {
  const m = /handler\.js:(\d+)/.exec(err.stack ?? "");
  return m ? `line ${m[1]}: ` : "";
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  spawnError?: string;
}

function runWithStdin(cmd: string, args: string[], input: string, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], timeout: timeoutMs, killSignal: "SIGKILL" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.once("error", (err: NodeJS.ErrnoException) =>
      resolve({ code: null, signal: null, stdout, stderr, spawnError: err.code ?? err.message }),
    );
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    // A child that exits before reading all of stdin makes the write fail with EPIPE; its exit status tells.
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}
