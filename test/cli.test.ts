// The `weft` CLI, driven as users drive it: the real binary spawned as a process, against a real fabric.
// Asserts on what it prints and on its exit codes (0 done, 1 the call failed, 2 usage).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { eventually, startFabric, type Fabric } from "./harness/fabric.js";
import { buildProgram } from "../clients/cli/program.js";
import { LIMITS } from "../shared/limits.js";
import { PassThrough } from "node:stream";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "clients/cli/bin/weft.js");

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

let fabric: Fabric;
let dir: string;
/** A build directory of this run's own (folders deployed as bundles are built). */
let buildDir: string;
const FIXTURES = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "bundles");

/** Runs `weft args…` with WEFT_URL pointing at the fabric; `stdin` is written and closed (none: /dev/null). */
function weft(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<Ran> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, WEFT_URL: fabric.httpUrl, ...opts.env },
    stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const ok = (r: Ran, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}${r.stdout}`);
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

before(async () => {
  buildDir = await mkdtemp(join(tmpdir(), "weft-cli-builds-"));
  fabric = await startFabric({ controllerEnv: { WEFT_BUILD_DIR: buildDir }, agentEnv: { WEFT_BUILD_DIR: buildDir } });
  dir = await mkdtemp(join(tmpdir(), "weft-cli-"));
});

after(async () => {
  await fabric?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

describe("weft: usage", () => {
  test("every command's --help has an example", () => {
    const io = { env: {}, stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
    const program = buildProgram(io);
    const walk = (cmd: typeof program, prefix: string): string[] =>
      cmd.commands.flatMap((c) => [`${prefix}${c.name()}`, ...walk(c, `${prefix}${c.name()} `)]);
    const names = walk(program, "");
    for (const expected of ["deploy", "invoke", "ls", "get", "versions", "rm", "logs", "invocations", "status", "metrics", "exec", "agents", "alias", "alias set", "alias ls", "alias rm"]) {
      assert.ok(names.includes(expected), `weft ${expected} exists`);
    }
    for (const name of names) {
      let cmd = program;
      for (const part of name.split(" ")) cmd = cmd.commands.find((c) => c.name() === part)!;
      let help = "";
      cmd.configureOutput({ writeOut: (s) => (help += s) }).outputHelp();
      assert.match(help, /Examples?:\n {2}\$ weft /, `weft ${name} --help shows an example`);
    }
  });

  test("--help exits 0 and prints usage; usage errors exit 2 and say what is wrong", async () => {
    const help = await weft(["invoke", "--help"]);
    ok(help, "invoke --help");
    assert.match(help.stdout, /Usage: weft invoke \[options\] <NAME>/);
    assert.match(help.stdout, /\$ weft invoke hello --data/);

    const missing = await weft(["invoke"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'NAME'/);

    const unknown = await weft(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);

    const badJson = await weft(["invoke", "x", "--data", "{nope"]);
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /--data: not JSON/);

    const badVersion = await weft(["get", "x", "--version", "two"]);
    assert.equal(badVersion.code, 2);
    assert.match(badVersion.stderr, /--version: "two" is not a whole number/);

    const badWindow = await weft(["metrics", "x", "--window", "soon"]);
    assert.equal(badWindow.code, 2);
    assert.match(badWindow.stderr, /--window: "soon" is not a duration/);
  });

  test("API errors print the code and message and exit 1; --url overrides WEFT_URL", async () => {
    const missing = await weft(["get", "no-such-fn"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: NOT_FOUND: function no-such-fn/m);

    const unreachable = await weft(["ls"], { env: { WEFT_URL: "http://127.0.0.1:1" } });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /error: UNAVAILABLE: cannot reach http:\/\/127\.0\.0\.1:1/);

    const viaFlag = await weft(["ls", "--url", fabric.httpUrl], { env: { WEFT_URL: "http://127.0.0.1:1" } });
    ok(viaFlag, "ls --url");
  });
});

describe("weft: functions and invocations", () => {
  test("deploy a folder with weft.yaml, invoke it (--data, @file, stdin, --verbose), list, get, versions", async () => {
    const name = uniqueName("cli");
    const folder = join(dir, name);
    await mkdir(folder);
    await writeFile(join(folder, "main.py"), 'def handler(event, context):\n    print("log line from", context.function_name)\n    return {"hello": event.get("name"), "v": 1}\n');
    await writeFile(join(folder, "weft.yaml"), `name: ${name}\nhandler: main.py\nlimits:\n  timeoutMs: 5000\nenv:\n  GREETING: hi\n`);

    const deployed = await weft(["deploy", folder]);
    ok(deployed, "deploy");
    assert.equal(deployed.stdout.trim(), `created ${name} version 1 (python3.13, runc)`);

    const withData = await weft(["invoke", name, "--data", '{"name":"flag"}']);
    ok(withData, "invoke --data");
    assert.deepEqual(JSON.parse(withData.stdout), { hello: "flag", v: 1 });

    await writeFile(join(dir, "event.json"), '{"name":"file"}');
    const fromFile = await weft(["invoke", name, "--data", "@event.json", "--verbose"]);
    ok(fromFile, "invoke --data @file");
    assert.deepEqual(JSON.parse(fromFile.stdout), { hello: "file", v: 1 });
    assert.match(fromFile.stderr, new RegExp(`log line from ${name}`));
    assert.match(fromFile.stderr, /-- invocation \S+ · version 1 · [\d.]+ms · (cold|warm) · agent \S+/);

    const fromStdin = await weft(["invoke", name, "--json"], { stdin: '{"name":"stdin"}' });
    ok(fromStdin, "invoke from stdin");
    const result = JSON.parse(fromStdin.stdout);
    assert.equal(result.status, "ok");
    assert.deepEqual(result.output, { hello: "stdin", v: 1 });

    await writeFile(join(folder, "main.py"), 'def handler(event, context):\n    return {"v": 2}\n');
    const updated = await weft(["deploy", folder]);
    ok(updated, "deploy again");
    assert.equal(updated.stdout.trim(), `updated ${name} version 2 (python3.13, runc)`);

    const listed = await weft(["ls"]);
    ok(listed, "ls");
    assert.match(listed.stdout, /^NAME\s+VERSION\s+RUNTIME\s+ISOLATION\s+MEMORY\s+TIMEOUT\s+CREATED$/m);
    assert.match(listed.stdout, new RegExp(`^${name}\\s+2\\s+python3\\.13\\s+runc\\s+256MB\\s+5000ms`, "m"));
    const listedJson = JSON.parse((await weft(["ls", "--json"])).stdout);
    assert.equal(listedJson.functions.find((f: { name: string }) => f.name === name).version, 2);

    const code = await weft(["get", name, "--version", "1", "--code"]);
    ok(code, "get --code");
    assert.equal(code.stdout, 'def handler(event, context):\n    print("log line from", context.function_name)\n    return {"hello": event.get("name"), "v": 1}\n');
    const got = await weft(["get", name]);
    assert.match(got.stdout, /^version:\s+2$/m);
    assert.match(got.stdout, /^env:\s+GREETING$/m);

    const versions = await weft(["versions", name, "--json"]);
    ok(versions, "versions");
    assert.deepEqual(JSON.parse(versions.stdout).versions.map((v: { version: number }) => v.version), [2, 1]);

    const pinned = await weft(["invoke", name, "--version", "1", "--data", '{"name":"pinned"}']);
    assert.deepEqual(JSON.parse(pinned.stdout), { hello: "pinned", v: 1 });
  });

  test("an invocation that ends in error or timeout exits 1 and prints its code; a single .js file deploys with its runtime", async () => {
    const name = uniqueName("cli-js");
    await writeFile(join(dir, "fails.js"), 'exports.handler = async (event) => { if (event.sleep) await new Promise((r) => setTimeout(r, 5000)); throw new Error("boom " + event.n); };\n');
    await writeFile(join(dir, "weft.json"), JSON.stringify({ handler: "fails.js", limits: { timeoutMs: 500 } }));
    const deployed = await weft(["deploy", "fails.js", "--name", name]);
    ok(deployed, "deploy a file");
    assert.equal(deployed.stdout.trim(), `created ${name} version 1 (nodejs20, runc)`);

    const failed = await weft(["invoke", name, "--data", '{"n":7}']);
    assert.equal(failed.code, 1);
    assert.equal(failed.stdout, "");
    assert.match(failed.stderr, /^error: error: HANDLER_ERROR: .*boom 7/m);

    const timedOut = await weft(["invoke", name, "--data", '{"sleep":true}']);
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /^error: timeout: TIMEOUT: /m);
  });

  test("--async prints the id; status --wait, invocations, logs and metrics read what ran; rm deletes", async () => {
    const name = uniqueName("cli-async");
    await writeFile(join(dir, `${name}.py`), 'def handler(event, context):\n    print("line one", event["n"])\n    print("line two", event["n"])\n    return event["n"]\n');
    ok(await weft(["deploy", `${name}.py`]), "deploy");

    const queued = await weft(["invoke", name, "--async", "--data", '{"n":1}']);
    ok(queued, "invoke --async");
    const id = queued.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.match(queued.stderr, new RegExp(`weft status ${id} --wait`));

    const waited = await weft(["status", id, "--wait"]);
    ok(waited, "status --wait");
    assert.match(waited.stdout, /^status:\s+ok$/m);
    assert.match(waited.stdout, /^output:\s+1$/m);
    assert.match(waited.stdout, /line one 1\nline two 1/);

    ok(await weft(["invoke", name, "--data", '{"n":2}']), "invoke");
    const records = await eventually(async () => {
      const r = JSON.parse((await weft(["invocations", name, "--json"])).stdout);
      return r.invocations.filter((i: { status: string }) => i.status === "ok").length === 2 ? r : undefined;
    }, "two records");
    assert.equal(records.invocations.length, 2);
    const table = await weft(["invocations", name]);
    assert.match(table.stdout, /^INVOCATION\s+STATUS\s+VERSION\s+DURATION\s+COLD\s+AGENT\s+ENQUEUED$/m);
    assert.match(table.stdout, new RegExp(`^${id}\\s+ok\\s+1\\s`, "m"));

    const logs = await weft(["logs", name, "--since", "10m"]);
    ok(logs, "logs");
    const lines = logs.stdout.trim().split("\n");
    assert.equal(lines.length, 4, logs.stdout);
    assert.match(lines[0]!, new RegExp(`^\\S+  ${id}  line one 1$`));
    assert.match(lines[3]!, /^\S+ {2}\S+ {2}line two 2$/);
    const errorsOnly = await weft(["logs", name, "--status", "error"]);
    ok(errorsOnly, "logs --status error");
    assert.equal(errorsOnly.stdout, "");
    assert.match(errorsOnly.stderr, /no log lines/);
    const badStatus = await weft(["logs", name, "--status", "meh"]);
    assert.equal(badStatus.code, 2);
    const newest = await weft(["logs", name, "--limit", "1", "--json"]);
    ok(newest, "logs --limit 1 --json");
    assert.deepEqual(JSON.parse(newest.stdout).lines.map((l: { line: string }) => l.line), ["line two 2"]);
    const future = await weft(["logs", name, "--since", new Date(Date.now() + 60_000).toISOString()]);
    ok(future, "logs --since <RFC 3339>");
    assert.match(future.stderr, /no log lines/);
    const badSince = await weft(["logs", name, "--since", "soon"]);
    assert.equal(badSince.code, 2);
    assert.match(badSince.stderr, /--since/);
    const tooFar = await weft(["logs", name, "--since", "90d"]);
    assert.equal(tooFar.code, 1, "the API refuses it, naming the field");
    assert.match(tooFar.stderr, /INVALID_ARGUMENT: since/);

    const metrics = await weft(["metrics", name, "--window", "1h", "--json"]);
    ok(metrics, "metrics");
    const m = JSON.parse(metrics.stdout);
    assert.equal(m.windowMs, 3_600_000);
    assert.equal(m.count, 2);
    assert.equal(m.ok, 2);
    const human = await weft(["metrics", name]);
    assert.match(human.stdout, /^invocations:\s+2$/m);

    await followLogs(name);

    const removed = await weft(["rm", name]);
    ok(removed, "rm");
    assert.equal(removed.stdout.trim(), `deleted ${name}`);
    const gone = await weft(["invoke", name]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^error: NOT_FOUND: /m);
  });
});

/** `weft logs NAME --follow` prints the lines of an invocation that ends while it runs, then is stopped with SIGINT. */
async function followLogs(name: string): Promise<void> {
  const child = spawn(process.execPath, [BIN, "logs", name, "--follow"], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, WEFT_URL: fabric.httpUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  try {
    await eventually(async () => (stderr.includes("following") ? true : undefined), "the follow stream open", 15_000);
    const r = await weft(["invoke", name, "--data", '{"n":3}']);
    ok(r, "invoke while following");
    await eventually(async () => (/line two 3\n/.test(stdout) ? true : undefined), "the new lines printed", 15_000);
    assert.match(stdout, /^\S+ {2}[0-9a-f-]{36} {2}line one 3\n\S+ {2}[0-9a-f-]{36} {2}line two 3\n$/);
  } finally {
    child.kill("SIGINT");
  }
  await exited;
}

describe("weft: aliases and versions", () => {
  test("alias set | ls | rm, invoke --alias, rm --version (refused while an alias points to it)", async () => {
    const name = uniqueName("cli-alias");
    for (const v of [1, 2, 3]) {
      await writeFile(join(dir, `${name}.py`), `def handler(event, context):\n    return ${v}\n`);
      ok(await weft(["deploy", `${name}.py`]), `deploy v${v}`);
    }
    const set = await weft(["alias", "set", name, "prod", "1"]);
    ok(set, "alias set");
    assert.equal(set.stdout.trim(), `${name}:prod → version 1`);
    const canary = await weft(["alias", "set", name, "beta", "2", "--weight", "3=0.25"]);
    ok(canary, "alias set --weight");
    assert.equal(canary.stdout.trim(), `${name}:beta → version 2, 25% to version 3`);
    const badWeight = await weft(["alias", "set", name, "beta", "2", "--weight", "3:0.25"]);
    assert.equal(badWeight.code, 2);

    const listed = await weft(["alias", "ls", name]);
    ok(listed, "alias ls");
    assert.match(listed.stdout, /^ALIAS\s+VERSION\s+WEIGHTS\s+UPDATED$/m);
    assert.match(listed.stdout, /^beta\s+2\s+3=0\.25\s/m);
    assert.match(listed.stdout, /^prod\s+1\s+-\s/m);

    const viaAlias = await weft(["invoke", name, "--alias", "prod", "--json"]);
    ok(viaAlias, "invoke --alias");
    assert.equal(JSON.parse(viaAlias.stdout).version, 1);
    assert.equal((await weft(["invoke", name, "--alias", "prod", "--version", "1"])).code, 2);

    const refused = await weft(["rm", name, "--version", "1"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: CONFLICT: version 1 of .* alias prod/m);
    ok(await weft(["alias", "rm", name, "prod"]), "alias rm");
    const removed = await weft(["rm", name, "--version", "1"]);
    ok(removed, "rm --version");
    assert.equal(removed.stdout.trim(), `deleted ${name} version 1`);
    const versions = JSON.parse((await weft(["versions", name, "--json"])).stdout);
    assert.deepEqual(versions.versions.map((v: { version: number }) => v.version), [3, 2]);
    const gone = await weft(["alias", "rm", name, "prod"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^error: NOT_FOUND: alias prod/m);
  });
});

describe("weft: the fabric", () => {
  test("agents lists the live agent", async () => {
    const table = await weft(["agents"]);
    ok(table, "agents");
    assert.match(table.stdout, /^AGENT\s+HOST\s+STATE\s+SLOTS\s+CONTAINERS\s+STEM CELLS\s+MEMORY\s+UPTIME\s+SEEN$/m);
    const json = JSON.parse((await weft(["agents", "--json"])).stdout);
    assert.equal(json.agents.length, 1);
    assert.match(table.stdout, new RegExp(`^${json.agents[0].agentId}\\s+\\S+\\s+running\\s+\\d+/${json.agents[0].slots}\\s`, "m"));
  });
});

describe("weft: folders deployed as bundles, and their builds", () => {
  /** A copy of a fixture folder, with what a working folder has besides: installed packages, a repository, a manifest. */
  async function workingFolder(fixture: string, name: string): Promise<string> {
    const folder = join(dir, name);
    await cp(join(FIXTURES, fixture), folder, { recursive: true });
    for (const junk of ["node_modules/lodash/index.js", ".git/HEAD", "target/debug/x", "lib/__pycache__/x.pyc"]) {
      await mkdir(dirname(join(folder, junk)), { recursive: true });
      await writeFile(join(folder, junk), "not packed");
    }
    return folder;
  }

  test("a Node folder (weft.yaml names app.handler) is packed without node_modules/.git/target, built, and answers; logs --build prints its log", async () => {
    const name = uniqueName("cli-bundle");
    const folder = await workingFolder("node-lodash", name);
    await writeFile(join(folder, "weft.yaml"), `name: ${name}\nhandler: app.handler\nlimits:\n  memoryMb: 128\n`);
    const deployed = await weft(["deploy", folder]);
    ok(deployed, "deploy a folder");
    assert.equal(deployed.stdout.trim(), `created ${name} version 1 (nodejs20, runc)`);
    assert.match(deployed.stderr, /^built in [\d.]+s, layer nodejs20-[0-9a-f]+ [\d.]+ MiB/m, deployed.stderr);

    const got = JSON.parse((await weft(["get", name, "--json"])).stdout);
    assert.deepEqual(Object.keys(got.files).sort(), ["app.js", "lib/greet.js", "package-lock.json", "package.json"]);
    assert.equal(got.handler, "app.handler");
    assert.equal(got.limits.memoryMb, 128);
    assert.equal(got.build.status, "ready");

    const out = await weft(["invoke", name, "--data", '{"name":"cli","items":[1,2,3]}']);
    ok(out, "invoke");
    assert.deepEqual(JSON.parse(out.stdout), { greeting: "hello, cli", chunks: [[1, 2], [3]], lodash: "4.17.21" });

    const log = await weft(["logs", name, "--build"]);
    ok(log, "logs --build");
    assert.match(log.stdout, /weft: 4 files laid out/);
    assert.match(log.stdout, /weft: build ready in \d+ ms/);
    assert.match(log.stderr, new RegExp(`^-- ${name} version 1: built in`, "m"));
    const report = JSON.parse((await weft(["logs", name, "--build", "--version", "1", "--json"])).stdout);
    assert.equal(report.build.status, "ready");
    assert.equal(report.version, 1);

    const misuse = await weft(["logs", name, "--build", "--follow"]);
    assert.equal(misuse.code, 2);
    assert.match(misuse.stderr, /--build prints one build's log/);
    const noBuild = await weft(["logs", name, "--version", "1"]);
    assert.equal(noBuild.code, 2);
    const missingVersion = await weft(["logs", name, "--build", "--version", "9"]);
    assert.equal(missingVersion.code, 1);
    assert.match(missingVersion.stderr, /^error: NOT_FOUND: /m);
  });

  test("a TypeScript folder with no manifest deploys with --handler (the runtime from app.ts); --no-wait returns at once and logs --build waits for the build", async () => {
    const name = uniqueName("cli-ts");
    const folder = await workingFolder("typescript-lodash", name);
    // A package.json of its own makes a layer no other test has built: the build takes seconds, not milliseconds.
    const pkg = JSON.parse(await readFile(join(folder, "package.json"), "utf8"));
    await writeFile(join(folder, "package.json"), JSON.stringify({ ...pkg, description: `cli test ${name}` }, null, 2));
    const deployed = await weft(["deploy", folder, "--handler", "app.handler", "--no-wait"]);
    ok(deployed, "deploy --no-wait");
    assert.equal(deployed.stdout.trim(), `created ${name} version 1 (typescript, runc)`);
    assert.doesNotMatch(deployed.stderr, /built in/, "--no-wait does not wait for the build");

    const log = await weft(["logs", name, "--build"]);
    ok(log, "logs --build");
    assert.match(log.stderr, new RegExp(`${name} version 1 is building; its log follows when the build ends`), "the build was still running, and was waited for");
    assert.match(log.stdout, /added 1 package/, "npm's output is in the log");
    assert.match(log.stdout, /app\.ts and its local modules bundled by esbuild/);
    const out = await weft(["invoke", name, "--data", '{"name":"ts","items":[1]}']);
    ok(out, "invoke");
    assert.deepEqual(JSON.parse(out.stdout), { greeting: "hello, ts", chunks: [[1]], lodash: "4.17.21" });
  });

  test("a failed build: deploy and logs --build exit 1 and print the log's tail", async () => {
    const name = uniqueName("cli-broken");
    const folder = join(dir, name);
    await mkdir(folder);
    await writeFile(join(folder, "app.py"), "def handler(event, context):\n    return 1\n");
    await writeFile(join(folder, "requirements.txt"), "weft-no-such-package-7c1d==0.0.1\n");
    const deployed = await weft(["deploy", folder, "--handler", "app.handler"]);
    assert.equal(deployed.code, 1, deployed.stderr);
    assert.equal(deployed.stdout.trim(), `created ${name} version 1 (python3.13, runc)`);
    assert.match(deployed.stderr, /^build failed/m);
    assert.match(deployed.stderr, /error: BUILD_FAILED: .*version 1:\n[\s\S]*weft-no-such-package-7c1d/);
    const log = await weft(["logs", name, "--build"]);
    assert.equal(log.code, 1);
    assert.match(log.stdout, /weft-no-such-package-7c1d/);
    assert.match(log.stderr, /error: BUILD_FAILED: the build of .* version 1 failed/);
  });

  test("a folder over the API's size limit is refused before anything is sent, naming its biggest files; node_modules never counts", async () => {
    const name = uniqueName("cli-big");
    const folder = join(dir, name);
    await mkdir(join(folder, "node_modules"), { recursive: true });
    await writeFile(join(folder, "main.py"), "def handler(event, context):\n    return 'small'\n");
    await writeFile(join(folder, "node_modules", "huge.bin"), Buffer.alloc(6 * 1024 * 1024));
    const small = await weft(["deploy", folder, "--handler", "main.py"]);
    ok(small, "a folder whose only file is its handler");
    assert.equal(small.stdout.trim(), `created ${name} version 1 (python3.13, runc)`);
    assert.equal(JSON.parse((await weft(["get", name, "--json"])).stdout).files, undefined, "one file is sent as code, as before bundles");

    await writeFile(join(folder, "data.bin"), Buffer.alloc(LIMITS.bundleBytes));
    const big = await weft(["deploy", folder, "--handler", "main.py"]);
    assert.equal(big.code, 2, big.stderr);
    assert.match(big.stderr, /4\.0 MiB to pack, over the API's 4\.0 MiB; the biggest files: data\.bin 4\.0 MiB, main\.py 0\.0 MiB/);
    assert.equal(JSON.parse((await weft(["versions", name, "--json"])).stdout).versions.length, 1, "nothing was sent");
  });
});
