// The runtime contract, checked the same way on every runtime × isolation: one table of probes (a handler per
// runtime that does what the event's `op` says), one list of cases. A runtime added to shared/runtimes.ts without
// a probe here fails to compile.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { RUNTIMES, type Runtime } from "../shared/runtimes.js";

const ISOLATIONS = ["runc", "gvisor"] as const;
const CONCURRENCY = 4;
const MEMORY_MB = 256;
const TIMEOUT_MS = 3000;
const LARGE_BYTES = 1024 * 1024;

const PYTHON = `import sys, time, uuid
CONTAINER = uuid.uuid4().hex

def handler(event, context):
    op = event["op"]
    if op == "echo":
        return event["value"]
    if op == "error":
        raise ValueError("boom " + event["why"])
    if op == "logs":
        print("to stdout", event["mark"])
        print("to stderr", event["mark"], file=sys.stderr)
        return None
    if op == "large":
        return "x" * event["bytes"]
    if op == "context":
        return {"invocationId": context.invocation_id, "functionName": context.function_name,
                "functionVersion": context.function_version, "memoryMb": context.memory_limit_in_mb,
                "remainingMs": context.get_remaining_time_in_millis()}
    if op == "hold":
        start = time.time() * 1000
        time.sleep(event["ms"] / 1000)
        return {"start": start, "end": time.time() * 1000, "container": CONTAINER}
    if op == "version":
        return "%d.%d" % sys.version_info[:2]
    if op == "sleep":
        time.sleep(event["ms"] / 1000)
        return "woke"
`;

const JAVASCRIPT = `const CONTAINER = require("crypto").randomUUID();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
exports.handler = async (event, context) => {
  switch (event.op) {
    case "echo": return event.value;
    case "error": throw new TypeError("boom " + event.why);
    case "logs":
      console.log("to stdout", event.mark);
      console.error("to stderr", event.mark);
      return null;
    case "large": return "x".repeat(event.bytes);
    case "context":
      return { invocationId: context.invocationId, functionName: context.functionName, functionVersion: context.functionVersion,
        memoryMb: context.memoryLimitInMB, remainingMs: context.getRemainingTimeInMillis() };
    case "hold": { const start = Date.now(); await sleep(event.ms); return { start, end: Date.now(), container: CONTAINER }; }
    case "version": return process.versions.node.split(".")[0];
    case "sleep": await sleep(event.ms); return "woke";
  }
};
`;

/** An ES module with types: transpiled at deploy, run on Node 20. */
const TYPESCRIPT = `import { randomUUID } from "node:crypto";
interface Event { op: string; value?: unknown; why?: string; mark?: string; bytes?: number; ms?: number }
interface Context { invocationId: string; functionName: string; functionVersion: string; memoryLimitInMB: number; getRemainingTimeInMillis(): number }
const CONTAINER: string = randomUUID();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function handler(event: Event, context: Context): Promise<unknown> {
  switch (event.op) {
    case "echo": return event.value;
    case "error": throw new TypeError("boom " + event.why);
    case "logs":
      console.log("to stdout", event.mark);
      console.error("to stderr", event.mark);
      return null;
    case "large": return "x".repeat(event.bytes!);
    case "context":
      return { invocationId: context.invocationId, functionName: context.functionName, functionVersion: context.functionVersion,
        memoryMb: context.memoryLimitInMB, remainingMs: context.getRemainingTimeInMillis() };
    case "hold": { const start = Date.now(); await sleep(event.ms!); return { start, end: Date.now(), container: CONTAINER }; }
    case "version": return process.versions.node.split(".")[0];
    case "sleep": await sleep(event.ms!); return "woke";
  }
}
`;

/** The rust probe: a Cargo library package using serde_json (its Cargo.lock pins versions Debian 13's rustc builds). */
const RUST_DIR = join(import.meta.dirname, "fixtures", "rust", "probe");
const RUST = Object.fromEntries(["Cargo.toml", "Cargo.lock", "src/lib.rs"].map((f) => [f, readFileSync(join(RUST_DIR, f), "utf8")]));
/** A rust version answers once cargo has built it: the first build on a machine also makes the builder image. */
const BUILD_MS = 900_000;

interface Probe {
  /** A single file, or a bundle's files (compiled runtimes). */
  code?: string;
  files?: Record<string, string>;
  /** The exception class the error case raises. */
  errorType: string;
  /** What the version op answers: the interpreter's version the runtime promises. */
  version: string;
}

const PROBES: Record<Runtime, Probe> = {
  "python3.11": { code: PYTHON, errorType: "ValueError", version: "3.11" },
  "python3.13": { code: PYTHON, errorType: "ValueError", version: "3.13" },
  nodejs18: { code: JAVASCRIPT, errorType: "TypeError", version: "18" },
  nodejs20: { code: JAVASCRIPT, errorType: "TypeError", version: "20" },
  typescript: { code: TYPESCRIPT, errorType: "TypeError", version: "20" },
  rust: { files: RUST, errorType: "Boom", version: "1.85" },
};

let fabric: Fabric;
/** First-call and warm latency per runtime × isolation, printed at the end (the closing note quotes them). */
const latency: Array<{ runtime: Runtime; isolation: string; firstMs: number; warmMs: number; floorMs: number }> = [];
const WARM_SAMPLES = 15;

before(async () => {
  fabric = await startFabric();
});

after(async () => {
  if (latency.length) {
    // The floor: GET /healthz over the same HTTP client, interleaved with the warm calls (the machine is shared).
    console.log("| runtime | isolation | first call ms | warm p50 ms | floor (GET /healthz) p50 ms |");
    for (const l of latency) {
      console.log(`| ${l.runtime} | ${l.isolation} | ${l.firstMs.toFixed(0)} | ${l.warmMs.toFixed(1)} | ${l.floorMs.toFixed(1)} |`);
    }
  }
  await fabric?.stop();
});

async function deploy(name: string, spec: Record<string, unknown>) {
  const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, spec);
  assert.ok(res.status === 200 || res.status === 201, `deploy ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function invoke(name: string, event: unknown) {
  const started = performance.now();
  const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, event);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { ...res.body, wallMs: performance.now() - started };
}

/** Waits for a bundle's build to end, and checks it is ready. */
async function built(name: string): Promise<void> {
  const def = await eventually(async () => {
    const r = await http(fabric.httpUrl, "GET", `/v1/functions/${name}`);
    return r.status === 200 && r.body.build?.status !== "building" ? r.body : undefined;
  }, `the build of ${name}`, BUILD_MS, 500);
  assert.equal(def.build.status, "ready", def.build.error);
}

const ok = (r: { status: string }) => assert.equal(r.status, "ok", JSON.stringify(r));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const runtime of RUNTIMES) {
  for (const isolation of ISOLATIONS) {
    describe(`${runtime} on ${isolation}`, () => {
      const probe = PROBES[runtime];
      const name = `conf-${runtime.replace(".", "")}-${isolation}-${randomBytes(3).toString("hex")}`;

      test("deploys, records its exact runtime, and runs on the interpreter it names", async () => {
        const source = probe.files ? { files: probe.files } : { code: probe.code };
        const def = await deploy(name, { runtime, isolation, ...source, concurrency: CONCURRENCY, limits: { timeoutMs: TIMEOUT_MS, memoryMb: MEMORY_MB } });
        assert.equal(def.runtime, runtime);
        if (probe.files) await built(name);
        const first = await invoke(name, { op: "version" });
        ok(first);
        assert.equal(first.output, probe.version);
        const warm: number[] = [];
        const floor: number[] = [];
        for (let i = 0; i < WARM_SAMPLES; i++) {
          warm.push((await invoke(name, { op: "echo", value: i })).wallMs);
          const t0 = performance.now();
          await http(fabric.httpUrl, "GET", "/healthz");
          floor.push(performance.now() - t0);
        }
        latency.push({ runtime, isolation, firstMs: first.wallMs, warmMs: median(warm), floorMs: median(floor) });
      });

      test("echo: the event comes back as the output, warm", async () => {
        const value = { s: "héllo ✓", n: 1.5, list: [1, null, true], nested: { deep: ["x"] } };
        const r = await invoke(name, { op: "echo", value });
        ok(r);
        assert.deepEqual(r.output, value);
        assert.equal(r.coldStart, false);
      });

      test("an error carries its type and message", async () => {
        const r = await invoke(name, { op: "error", why: "on purpose" });
        assert.equal(r.status, "error");
        assert.equal(r.error.code, "HANDLER_ERROR");
        assert.equal(r.error.type, probe.errorType);
        assert.match(r.error.message, /boom on purpose/);
      });

      test("logs: stdout and stderr of the call", async () => {
        const mark = randomBytes(4).toString("hex");
        const r = await invoke(name, { op: "logs", mark });
        ok(r);
        assert.match(r.logs, new RegExp(`to stdout ${mark}`));
        assert.match(r.logs, new RegExp(`to stderr ${mark}`));
      });

      test("large output: a 1 MiB result arrives whole", async () => {
        const r = await invoke(name, { op: "large", bytes: LARGE_BYTES });
        ok(r);
        assert.equal(r.output.length, LARGE_BYTES);
      });

      test("context fields: invocation id, name, version, memory, remaining time", async () => {
        const r = await invoke(name, { op: "context" });
        ok(r);
        assert.equal(r.output.invocationId, r.invocationId);
        assert.equal(r.output.functionName, name);
        assert.equal(String(r.output.functionVersion), String(r.version));
        assert.equal(Number(r.output.memoryMb), MEMORY_MB);
        assert.ok(r.output.remainingMs > 0 && r.output.remainingMs <= TIMEOUT_MS, `remaining ${r.output.remainingMs}`);
      });

      test(`concurrency: ${CONCURRENCY} calls at once run side by side in one container`, async () => {
        const rs = await Promise.all(Array.from({ length: CONCURRENCY }, () => invoke(name, { op: "hold", ms: 1000 })));
        for (const r of rs) ok(r);
        const latestStart = Math.max(...rs.map((r) => r.output.start));
        const earliestEnd = Math.min(...rs.map((r) => r.output.end));
        assert.ok(latestStart < earliestEnd, `the calls overlapped: last start ${latestStart}, first end ${earliestEnd}`);
        assert.equal(new Set(rs.map((r) => r.output.container)).size, 1, "one warm container took them all");
      });

      test("timeout: a call past the limit ends as timeout", async () => {
        const r = await invoke(name, { op: "sleep", ms: TIMEOUT_MS * 3 });
        assert.equal(r.status, "timeout", JSON.stringify(r));
        assert.equal(r.error.code, "TIMEOUT");
      });
    });
  }
}

describe("typescript", () => {
  test("a thrown error's stack names handler.ts's lines (source maps)", async () => {
    const name = `conf-ts-stack-${randomBytes(3).toString("hex")}`;
    const code = `type E = { why: string };\nexport const handler = async (e: E): Promise<never> => {\n  throw new RangeError("no " + e.why);\n};\n`;
    await deploy(name, { runtime: "typescript", code });
    const r = await invoke(name, { why: "luck" });
    assert.equal(r.status, "error", JSON.stringify(r));
    assert.equal(r.error.type, "RangeError");
    assert.match(r.error.stack, /handler\.ts:3:\d+/, r.error.stack);
  });

  test("CommonJS TypeScript (require, exports.handler) works as well as an ES module", async () => {
    const name = `conf-ts-cjs-${randomBytes(3).toString("hex")}`;
    const code = `const os = require("os");\nexports.handler = async (e: { n: number }) => ({ n: e.n + 1, eol: os.EOL });\n`;
    await deploy(name, { runtime: "typescript", code });
    const r = await invoke(name, { n: 41 });
    ok(r);
    assert.deepEqual(r.output, { n: 42, eol: "\n" });
  });

  test("a syntax error is refused at deploy with the file, line and column", async () => {
    const res = await http(fabric.httpUrl, "PUT", `/v1/functions/conf-ts-bad-${randomBytes(3).toString("hex")}`, {
      runtime: "typescript",
      code: "export const handler = async () => {\n  const x: number = ;\n};\n",
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.field, "code");
    assert.match(res.body.error.message, /handler\.ts:2:21: /);
  });

  test("GET shows the TypeScript deployed, not what it compiled to", async () => {
    const name = `conf-ts-get-${randomBytes(3).toString("hex")}`;
    const code = `export const handler = async (): Promise<number> => 1;\n`;
    await deploy(name, { runtime: "typescript", code });
    const got = await http(fabric.httpUrl, "GET", `/v1/functions/${name}`);
    assert.equal(got.body.code, code);
    assert.equal(got.body.runtime, "typescript");
    assert.equal(got.body.compiled, undefined);
  });
});

describe("ES modules in JavaScript", () => {
  test("nodejs20 loads an ES module handler (Node 20.19 detects the syntax); nodejs18 answers INIT_ERROR", async () => {
    const code = `import { EOL } from "node:os";\nexport const handler = async (e) => ({ n: e.n + 1, eol: EOL });\n`;
    const modern = `conf-esm-20-${randomBytes(3).toString("hex")}`;
    await deploy(modern, { runtime: "nodejs20", code });
    const r = await invoke(modern, { n: 1 });
    ok(r);
    assert.deepEqual(r.output, { n: 2, eol: "\n" });
    const old = `conf-esm-18-${randomBytes(3).toString("hex")}`;
    await deploy(old, { runtime: "nodejs18", code });
    const e = await invoke(old, { n: 1 });
    assert.equal(e.status, "error");
    assert.equal(e.error.code, "INIT_ERROR");
  });
});

describe("runtime names", () => {
  test("python3 and nodejs resolve at deploy to the newest, and the version keeps what they resolved to", async () => {
    for (const [alias, exact] of [["python3", "python3.13"], ["nodejs", "nodejs20"]] as const) {
      const name = `conf-alias-${alias}-${randomBytes(3).toString("hex")}`;
      const code = alias === "python3" ? "def handler(e, c):\n    return 1\n" : "exports.handler = async () => 1";
      assert.equal((await deploy(name, { runtime: alias, code })).runtime, exact);
      const got = await http(fabric.httpUrl, "GET", `/v1/functions/${name}?version=1`);
      assert.equal(got.body.runtime, exact);
    }
  });

  test("an unknown runtime is refused with INVALID_ARGUMENT naming runtime, at PUT and at execute", async () => {
    for (const runtime of ["python3.12", "nodejs22", "ruby", "python"]) {
      const put = await http(fabric.httpUrl, "PUT", `/v1/functions/conf-bad-${randomBytes(3).toString("hex")}`, { runtime, code: "x" });
      assert.equal(put.status, 400, runtime);
      assert.equal(put.body.error.field, "runtime");
      const exec = await http(fabric.httpUrl, "POST", "/v1/execute", { runtime, code: "x" });
      assert.equal(exec.status, 400, runtime);
      assert.equal(exec.body.error.field, "runtime");
    }
  });

  test("execute runs TypeScript (transpiled by the gateway) and refuses a syntax error with its position", async () => {
    const r = await http(fabric.httpUrl, "POST", "/v1/execute", { runtime: "typescript", code: "const n: number = 41;\nconsole.log(n + 1);\n" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, "ok", JSON.stringify(r.body));
    assert.equal(r.body.stdout, "42\n");
    const bad = await http(fabric.httpUrl, "POST", "/v1/execute", { runtime: "typescript", code: "let x: = 1;\n" });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, "code");
    assert.match(bad.body.error.message, /handler\.ts:1:8: /);
  });
});
