// weft deploy, ls, get, versions, rm: functions and their versions.
import type { Command } from "commander";
import { isMissingRoute } from "../api-client.js";
import { awaitBuild, describeBuild, type Build } from "../build-state.js";
import { readDeploySource } from "../deploy-source.js";
import { CallFailed } from "../usage-error.js";
import { ms, type Column } from "../output.js";
import { example, wholeNumber, type Context, type ContextOf } from "../program.js";

/** What the API answers for a function's version without its code (PUT, list, versions). */
export interface FunctionSummary {
  name: string;
  version: number;
  incarnation: string;
  runtime: string;
  isolation: string;
  limits: { timeoutMs: number; memoryMb: number; cpus?: number };
  concurrency: number;
  minWarm: number;
  env: Record<string, string>;
  description?: string;
  codeSha256: string;
  codeBytes?: number;
  createdAt: string;
  created?: boolean;
  code?: string;
  build?: Build;
}

const path = (name: string) => `/v1/functions/${encodeURIComponent(name)}`;
export const functionPath = path;

const SUMMARY_COLUMNS: Column<FunctionSummary>[] = [
  { header: "NAME", value: (f) => f.name },
  { header: "VERSION", value: (f) => f.version },
  { header: "RUNTIME", value: (f) => f.runtime },
  { header: "ISOLATION", value: (f) => f.isolation },
  { header: "MEMORY", value: (f) => `${f.limits.memoryMb}MB` },
  { header: "TIMEOUT", value: (f) => ms(f.limits.timeoutMs) },
  { header: "CREATED", value: (f) => f.createdAt },
];

export function functionCommands(program: Command, ctx: ContextOf): void {
  example(
    program
      .command("deploy")
      .description("Create a function or add a version, from a handler file or a folder (packed into a bundle; its build is shown)")
      .argument("[PATH]", "a handler file (.py, .js, .ts) or a folder: weft.json / weft.yaml or --handler name its entry", ".")
      .option("--name <name>", "the function's name (default: the manifest's name, else the file's or folder's)")
      .option("--runtime <runtime>", "the runtime (default: the manifest's, else the entry's extension: .py python3, .js nodejs, .ts typescript)")
      .option("--handler <handler>", "a folder's entry: a file (main.py) or module.function (app.handler, lib/app.run)")
      .option("--no-wait", "answer once the version is stored, without waiting for its build")
      .action(async (p: string, o: DeployOptions, cmd: Command) => deploy(ctx(cmd), p, o)),
    "weft deploy ./hello.py",
    "weft deploy ./my-function        # a folder with weft.json: {\"name\":\"hello\",\"handler\":\"main.py\",\"limits\":{\"timeoutMs\":5000}}",
    "weft deploy ./stats --handler app.handler   # app.py, helpers and requirements.txt: built once, then it answers",
  );
  example(
    program.command("ls").description("List the functions (the latest version of each)").action(async (_o, cmd: Command) => list(ctx(cmd))),
    "weft ls",
    "weft ls --json",
  );
  example(
    program
      .command("get")
      .description("Show a function's latest version, or the version named")
      .argument("NAME", "the function")
      .option("--version <N>", "a version (default: the latest)", wholeNumber("--version"))
      .option("--code", "print only the code")
      .action(async (name: string, o: { version?: number; code?: boolean }, cmd: Command) => get(ctx(cmd), name, o)),
    "weft get hello",
    "weft get hello --version 2 --code > hello.py",
  );
  example(
    program
      .command("versions")
      .description("List a function's versions, newest first")
      .argument("NAME", "the function")
      .action(async (name: string, _o, cmd: Command) => versions(ctx(cmd), name)),
    "weft versions hello",
  );
  example(
    program
      .command("rm")
      .description("Delete a function (or, with --version, one version of it)")
      .argument("NAME", "the function")
      .option("--version <N>", "delete only this version (refused while an alias points to it)", wholeNumber("--version"))
      .action(async (name: string, o: { version?: number }, cmd: Command) => remove(ctx(cmd), name, o.version)),
    "weft rm hello",
    "weft rm hello --version 1",
  );
}

interface DeployOptions {
  name?: string;
  runtime?: string;
  handler?: string;
  wait: boolean;
}

async function deploy({ api, out }: Context, p: string, o: DeployOptions): Promise<void> {
  const source = await readDeploySource(p, o);
  for (const note of source.notes) out.note(note);
  const result = await api.put<FunctionSummary>(path(source.name), source.spec);
  if (!out.json) out.line(`${result.created ? "created" : "updated"} ${result.name} version ${result.version} (${result.runtime}, ${result.isolation})`);
  if (!result.build || !o.wait) return out.json ? out.data(result) : undefined;
  const build = await awaitBuild(api, result.name, result.version, (b) =>
    out.note(`building ${result.name} version ${result.version}${b.layer ? ` (dependencies into layer ${b.layer})` : ""}; weft logs ${result.name} --build shows its log`),
  );
  if (out.json) out.data({ ...result, build });
  else out.note(describeBuild(build));
  if (build.status === "failed") throw new CallFailed(`error: BUILD_FAILED: ${result.name} version ${result.version}:\n${build.error ?? ""}`);
}

async function list({ api, out }: Context): Promise<void> {
  const body = await api.get<{ functions: FunctionSummary[] }>("/v1/functions");
  out.table(body, body.functions, SUMMARY_COLUMNS, "no functions");
}

async function get({ api, out }: Context, name: string, o: { version?: number; code?: boolean }): Promise<void> {
  const fn = await api.get<FunctionSummary>(path(name), { version: o.version });
  if (o.code) {
    if (out.json) return out.data({ name: fn.name, version: fn.version, code: fn.code });
    out.raw(fn.code ?? "");
    return;
  }
  out.fields(fn, [
    ["name", fn.name],
    ["version", fn.version],
    ["incarnation", fn.incarnation],
    ["runtime", fn.runtime],
    ["isolation", fn.isolation],
    ["timeout", ms(fn.limits.timeoutMs)],
    ["memory", `${fn.limits.memoryMb}MB`],
    ["cpus", fn.limits.cpus],
    ["concurrency", fn.concurrency],
    ["minWarm", fn.minWarm],
    ["env", Object.keys(fn.env).join(", ") || "-"],
    ["description", fn.description],
    ["code", `${Buffer.byteLength(fn.code ?? "")} bytes, sha256 ${fn.codeSha256}`],
    ["created", fn.createdAt],
  ]);
}

async function versions({ api, out }: Context, name: string): Promise<void> {
  const list = await versionList(api, name);
  out.table({ name, versions: list }, list, SUMMARY_COLUMNS.slice(1), `${name} has no versions`);
}

/** GET /v1/functions/{name}/versions; a gateway without that route is asked for each version in turn. */
async function versionList(api: Context["api"], name: string): Promise<FunctionSummary[]> {
  try {
    return (await api.get<{ versions: FunctionSummary[] }>(`${path(name)}/versions`)).versions;
  } catch (err) {
    if (!isMissingRoute(err)) throw err;
  }
  const latest = await api.get<FunctionSummary>(path(name));
  const out: FunctionSummary[] = [latest];
  for (let v = latest.version - 1; v >= 1; v--) {
    const one = await api.get<FunctionSummary>(path(name), { version: v }).catch((err: unknown) => {
      if ((err as { code?: string }).code === "NOT_FOUND") return undefined;
      throw err;
    });
    if (one) out.push(one);
  }
  return out.map(({ code, ...rest }) => ({ ...rest, codeBytes: Buffer.byteLength(code ?? "") }));
}

async function remove({ api, out }: Context, name: string, version: number | undefined): Promise<void> {
  const result = await api.delete<unknown>(version === undefined ? path(name) : `${path(name)}/versions/${version}`);
  if (out.json) return out.data(result);
  out.line(version === undefined ? `deleted ${name}` : `deleted ${name} version ${version}`);
}
