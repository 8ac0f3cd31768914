// Multi-file functions and their dependencies on the real fabric (issue 12): a bundle is checked at PUT, its
// files and its dependency layer are built once (in a builder container with a network, pip and npm from the
// registries) and mounted read-only into every container of the version, under runc and gVisor; a version still
// building answers BUILD_PENDING, a failed one BUILD_FAILED with its log; the function's containers keep no network.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { eventually, http as httpAt, startFabric, type Fabric } from "./harness/fabric.js";
import { loadWeftProto } from "./bench/grpc-client.js";
import { LIMITS } from "../shared/limits.js";

const FIXTURES = join(import.meta.dirname, "fixtures", "bundles");
/** A cold numpy install downloads ~20 MB and the first build makes the builder image: minutes on a loaded machine. */
const BUILD_MS = 600_000;

let fabric: Fabric;
let buildDir: string;
let functions: any;
const http = (method: string, path: string, body?: unknown) => httpAt(fabric.httpUrl, method, path, body);
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

async function filesOf(folder: string): Promise<Record<string, string>> {
  const root = join(FIXTURES, folder);
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    out[relative(root, full)] = await readFile(full, "utf8");
  }
  return out;
}

/** The version's build once it has ended (ready or failed). */
async function builtVersion(name: string, version: number): Promise<any> {
  return eventually(async () => {
    const r = await http("GET", `/v1/functions/${name}?version=${version}`);
    return r.status === 200 && r.body.build?.status !== "building" ? r.body : undefined;
  }, `the build of ${name} v${version}`, BUILD_MS, 500);
}

async function invokeTimed(name: string, event: unknown): Promise<{ status: number; body: any; ms: number }> {
  const t0 = performance.now();
  const r = await http("POST", `/v1/functions/${name}/invoke`, event);
  return { ...r, ms: performance.now() - t0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function warmMedian(name: string, event: unknown, n = 9): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await invokeTimed(name, event);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, "ok", JSON.stringify(r.body));
    if (i > 0) assert.equal(r.body.coldStart, false, "warm calls reuse the container");
    times.push(r.ms);
  }
  return median(times);
}

before(async () => {
  // A build directory of this run's own, so the first build of each layer here is a cold one.
  buildDir = await mkdtemp(join(tmpdir(), "weft-builds-"));
  fabric = await startFabric({
    controllerEnv: { WEFT_BUILD_DIR: buildDir },
    agentEnv: { WEFT_BUILD_DIR: buildDir, WEFT_STEM_ISOLATIONS: "runc" },
    // Short, so a call made while numpy installs sees BUILD_PENDING rather than waiting.
    gatewayEnv: { WEFT_BUILD_WAIT_MS: "500" },
  });
  functions = new (loadWeftProto().FunctionService)(fabric.grpcAddress, credentials.createInsecure());
});

after(async () => {
  functions?.close();
  await fabric?.stop();
  await rm(buildDir, { recursive: true, force: true });
});

describe("a bundle is checked at PUT, naming the field", () => {
  const put = (files: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    http("PUT", `/v1/functions/${uniqueName("bad")}`, { runtime: "python3", files, handler: "app.handler", ...extra });

  test("paths going out of the bundle, absolute or empty are refused", async () => {
    for (const path of ["../evil.py", "lib/../../evil.py", "/etc/passwd", "a//b.py", "./app.py"]) {
      const r = await put({ "app.py": "def handler(e, c):\n    return 1\n", [path]: "x" });
      assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.field, `files.${path}`);
    }
  });

  test("a handler whose module is not among the files is refused", async () => {
    const r = await put({ "main.py": "def handler(e, c):\n    return 1\n" });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, "handler");
    assert.match(r.body.error.message, /app\.py/);
  });

  test("too many files, or too many bytes once decoded, is 413 naming files", async () => {
    const many = Object.fromEntries(Array.from({ length: LIMITS.bundleFiles + 1 }, (_, i) => [`f${i}.txt`, "x"]));
    const r1 = await put({ ...many, "app.py": "def handler(e, c):\n    return 1\n" });
    assert.equal(r1.status, 413);
    assert.equal(r1.body.error.field, "files");
    const big = { base64: Buffer.alloc(LIMITS.bundleBytes + 1).toString("base64") };
    const r2 = await put({ "blob.bin": big, "app.py": "def handler(e, c):\n    return 1\n" });
    assert.equal(r2.status, 413);
    assert.equal(r2.body.error.field, "files");
  });

  test("package.json without its lockfile is refused (a build must be repeatable)", async () => {
    const r = await http("PUT", `/v1/functions/${uniqueName("bad")}`, {
      runtime: "nodejs", handler: "app.handler", files: { "app.js": "exports.handler = async () => 1", "package.json": "{}" },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, "files.package-lock.json");
  });

  test("a file and a folder of the same name, or a bad base64 value, are refused", async () => {
    const r1 = await put({ "app.py": "def handler(e, c):\n    return 1\n", lib: "x", "lib/a.py": "x" });
    assert.equal(r1.status, 400);
    assert.equal(r1.body.error.field, "files.lib/a.py");
    const r2 = await put({ "app.py": "def handler(e, c):\n    return 1\n", "x.bin": { base64: "not base64!" } });
    assert.equal(r2.status, 400);
    assert.match(r2.body.error.field, /^files/);
  });
});

describe("Python: numpy and python-dateutil from requirements.txt, a local package", () => {
  const event = { values: [1, 2, 3, 4], date: "2026-12-02T00:00:00Z" };
  let name: string;

  test("PUT answers at once with build.status building; a call meanwhile is BUILD_PENDING with Retry-After", async () => {
    name = uniqueName("py-numpy");
    const t0 = performance.now();
    const r = await http("PUT", `/v1/functions/${name}`, { runtime: "python3", handler: "app.handler", files: await filesOf("python-numpy") });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.ok(performance.now() - t0 < 5000, "PUT does not wait for the build");
    assert.equal(r.body.build.status, "building");
    assert.ok(r.body.build.layer, "requirements.txt makes a layer");
    assert.equal(r.body.fileCount, 4);
    const res = await fetch(`${fabric.httpUrl}/v1/functions/${name}/invoke`, { method: "POST", body: JSON.stringify(event), headers: { "content-type": "application/json" } });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "5");
    assert.equal(((await res.json()) as any).error.code, "BUILD_PENDING");
  });

  test("the build ends ready, its log shows pip's install, and the call runs numpy under runc", async () => {
    const def = await builtVersion(name, 1);
    assert.equal(def.build.status, "ready", def.build.error);
    assert.equal(def.build.cached, false);
    assert.ok(def.build.layerBytes > 10 * 1024 * 1024, `numpy's layer is tens of MB (${def.build.layerBytes})`);
    const log = await http("GET", `/v1/functions/${name}/versions/1/build`);
    assert.equal(log.status, 200);
    assert.equal(log.body.build.status, "ready");
    assert.match(log.body.log, /Successfully installed .*numpy/);
    const first = await invokeTimed(name, event);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, "ok", JSON.stringify(first.body));
    assert.deepEqual({ ...first.body.output, numpy: undefined }, { mean: 2.5, numpy_sum: 10, year: 2026, numpy: undefined });
    assert.match(first.body.output.numpy, /^\d+\.\d+/);
    const warm = await warmMedian(name, event);
    // The floor: a single-file function on the same fabric, same run.
    const single = uniqueName("py-single");
    assert.equal((await http("PUT", `/v1/functions/${single}`, { runtime: "python3", code: "def handler(event, context):\n    return event\n" })).status, 201);
    const floor = await warmMedian(single, event);
    console.log(`# floor: single-file python3 runc warm p50 ${floor.toFixed(1)} ms`);
    console.log(`# python3 runc: cold build ${def.build.durationMs} ms, layer ${(def.build.layerBytes / 2 ** 20).toFixed(1)} MiB, first call ${first.ms.toFixed(0)} ms, warm p50 ${warm.toFixed(1)} ms`);
  });

  test("a second function with the same requirements shares the layer (cached) and runs under gVisor", async () => {
    const gv = uniqueName("py-numpy-gv");
    const r = await http("PUT", `/v1/functions/${gv}`, { runtime: "python3", isolation: "gvisor", handler: "app.handler", files: await filesOf("python-numpy") });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const def = await builtVersion(gv, 1);
    assert.equal(def.build.status, "ready", def.build.error);
    assert.equal(def.build.cached, true);
    assert.ok(def.build.layerBytes > 10 * 1024 * 1024, "a shared layer's size is reported too");
    assert.equal(def.build.layer, (await http("GET", `/v1/functions/${name}`)).body.build.layer);
    const first = await invokeTimed(gv, event);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.output?.numpy_sum, 10, JSON.stringify(first.body));
    const warm = await warmMedian(gv, event);
    console.log(`# python3 gvisor: cached build ${def.build.durationMs} ms, first call ${first.ms.toFixed(0)} ms, warm p50 ${warm.toFixed(1)} ms`);
  });

  test("the function's container has no network and cannot write its code or layer", async () => {
    const probe = uniqueName("py-probe");
    const code = [
      "def handler(event, context):",
      "    out = {}",
      "    for path in ['/var/task/x', '/opt/weft/layer/python/x']:",
      "        try:",
      "            open(path, 'w').write('x')",
      "            out[path] = 'written'",
      "        except OSError as e:",
      "            out[path] = type(e).__name__",
      "    out['interfaces'] = sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:])",
      "    import numpy",
      "    out['numpy'] = numpy.__file__",
      "    return out",
      "",
    ].join("\n");
    const r = await http("PUT", `/v1/functions/${probe}`, { runtime: "python3", handler: "app.handler", files: { "app.py": code, "requirements.txt": "numpy\npython-dateutil\n" } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal((await builtVersion(probe, 1)).build.status, "ready");
    const out = await http("POST", `/v1/functions/${probe}/invoke`, {});
    assert.equal(out.status, 200, JSON.stringify(out.body));
    const seen = out.body.output;
    assert.equal(out.body.status, "ok", JSON.stringify(out.body));
    assert.equal(seen["/var/task/x"], "OSError", "the bundle is read-only");
    assert.equal(seen["/opt/weft/layer/python/x"], "OSError", "the layer is read-only");
    assert.deepEqual(seen.interfaces, ["lo"], "no network but loopback");
    assert.match(seen.numpy, /^\/opt\/weft\/layer\/python\/numpy\//);
  });

  test("gRPC GetFunction shows the build and the bundle's files", async () => {
    const res = await new Promise<any>((resolve, reject) =>
      functions.GetFunction({ name }, new Metadata(), (err: ServiceError | null, r: any) => (err ? reject(err) : resolve(r))),
    );
    assert.equal(res.build.status, "ready");
    assert.equal(res.handler, "app.handler");
    assert.ok(res.files["lib/stats.py"].text.includes("def mean"));
  });
});

describe("Node: lodash from package.json + lockfile, and a local module", () => {
  const event = { name: "weft", items: [1, 2, 3] };

  for (const isolation of ["runc", "gvisor"] as const) {
    test(`builds once, and a warm call imports both (${isolation})`, async () => {
      const name = uniqueName(`js-lodash-${isolation}`);
      const r = await http("PUT", `/v1/functions/${name}`, { runtime: "nodejs", isolation, handler: "app.handler", files: await filesOf("node-lodash") });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const def = await builtVersion(name, 1);
      assert.equal(def.build.status, "ready", def.build.error);
      const first = await invokeTimed(name, event);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(first.body.output, { greeting: "hello, weft", chunks: [[1, 2], [3]], lodash: "4.17.21" }, JSON.stringify(first.body));
      const warm = await warmMedian(name, event);
      console.log(`# nodejs ${isolation}: build ${def.build.durationMs} ms (cached ${def.build.cached}), layer ${((def.build.layerBytes ?? 0) / 2 ** 20).toFixed(1)} MiB, first call ${first.ms.toFixed(0)} ms, warm p50 ${warm.toFixed(1)} ms`);
    });
  }

  test("an ES module entry (.mjs) imports lodash and a local module too", async () => {
    const name = uniqueName("js-esm");
    const files = await filesOf("node-lodash");
    files["app.mjs"] = 'import _ from "lodash";\nimport { greet } from "./lib/greet.mjs";\nexport const handler = async (e) => ({ g: greet(e.name), last: _.last(e.items) });\n';
    files["lib/greet.mjs"] = "export const greet = (n) => `hi ${n}`;\n";
    delete files["app.js"];
    const r = await http("PUT", `/v1/functions/${name}`, { runtime: "nodejs", handler: "app.handler", files });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal((await builtVersion(name, 1)).build.status, "ready");
    const out = await http("POST", `/v1/functions/${name}/invoke`, event);
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.deepEqual(out.body.output, { g: "hi weft", last: 3 }, JSON.stringify(out.body));
  });
});

describe("TypeScript: a folder with tsconfig.json, local modules and lodash, bundled at deploy by esbuild", () => {
  const event = { name: "ts", items: [1, 2, 3] };
  const expected = { greeting: "hello, ts", chunks: [[1, 2], [3]], lodash: "4.17.21" };

  /** A call that throws in lib/greet.ts: its stack names the TypeScript files and lines, through the source map. */
  async function assertStackNamesTypeScript(name: string, file: RegExp, caller: RegExp): Promise<void> {
    const r = await http("POST", `/v1/functions/${name}/invoke`, { ...event, refuse: true });
    assert.equal(r.body.status, "error", JSON.stringify(r.body));
    assert.equal(r.body.error.type, "Refused");
    assert.match(r.body.error.stack, file, r.body.error.stack);
    assert.match(r.body.error.stack, caller, r.body.error.stack);
  }

  for (const isolation of ["runc", "gvisor"] as const) {
    test(`ES modules: builds, answers warm, and a thrown error's stack names lib/greet.ts (${isolation})`, async () => {
      const name = uniqueName(`ts-esm-${isolation}`);
      const r = await http("PUT", `/v1/functions/${name}`, { runtime: "typescript", isolation, handler: "app.handler", files: await filesOf("typescript-lodash") });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.runtime, "typescript");
      assert.equal(r.body.build.status, "building");
      assert.match(r.body.build.layer, /^nodejs20-/, "a TypeScript bundle's packages install as nodejs20's");
      const def = await builtVersion(name, 1);
      assert.equal(def.build.status, "ready", def.build.error);
      assert.deepEqual(Object.keys(def.files).sort(), ["app.ts", "lib/greet.ts", "package-lock.json", "package.json", "tsconfig.json"], "GET shows the sources, not what esbuild made");
      const log = await http("GET", `/v1/functions/${name}/versions/1/build`);
      assert.match(log.body.log, /app\.ts and its local modules bundled by esbuild/);
      const first = await invokeTimed(name, event);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(first.body.output, expected, JSON.stringify(first.body));
      const warm = await warmMedian(name, event);
      await assertStackNamesTypeScript(name, /\/var\/task\/lib\/greet\.ts:8:\d+/, /\/var\/task\/app\.ts:7:\d+/);
      console.log(`# typescript ${isolation}: build ${def.build.durationMs} ms (cached ${def.build.cached}), layer ${((def.build.layerBytes ?? 0) / 2 ** 20).toFixed(1)} MiB, first call ${first.ms.toFixed(0)} ms, warm p50 ${warm.toFixed(1)} ms`);
    });
  }

  test("CommonJS sources (require, module.exports, export =) in a folder work as well", async () => {
    const name = uniqueName("ts-cjs");
    const files = await filesOf("typescript-lodash");
    files["src/main.ts"] = [
      'import _ = require("lodash");',
      'const { greet } = require("./greet") as typeof import("./greet");',
      "module.exports.run = async (e: { name: string; items: number[] }) => ({ greeting: greet(e.name), last: _.last(e.items) });",
      "",
    ].join("\n");
    files["src/greet.ts"] = "export = { greet: (n: string): string => `hi ${n}` };\n";
    const r = await http("PUT", `/v1/functions/${name}`, { runtime: "typescript", handler: "src/main.run", files });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const def = await builtVersion(name, 1);
    assert.equal(def.build.status, "ready", def.build.error);
    assert.equal(def.build.cached, true, "same package.json and lockfile as the other TypeScript bundles: the layer is shared");
    const out = await http("POST", `/v1/functions/${name}/invoke`, event);
    assert.deepEqual(out.body.output, { greeting: "hi ts", last: 3 }, JSON.stringify(out.body));
  });

  test("a syntax error in any file, or an import that does not resolve, is refused at PUT with the file, line and column", async () => {
    const files = await filesOf("typescript-lodash");
    const broken = { ...files, "lib/unused.ts": "export const a = 1;\nexport function b(x: number {\n  return x;\n}\n" };
    const r1 = await http("PUT", `/v1/functions/${uniqueName("ts-bad")}`, { runtime: "typescript", handler: "app.handler", files: broken });
    assert.equal(r1.status, 400, JSON.stringify(r1.body));
    assert.equal(r1.body.error.code, "INVALID_ARGUMENT");
    assert.equal(r1.body.error.field, "files.lib/unused.ts");
    assert.match(r1.body.error.message, /lib\/unused\.ts:2:29: Expected "\)" but found "\{"/);
    const unresolved = { ...files, "app.ts": files["app.ts"]!.replace("@lib/greet", "./lib/gret") };
    const r2 = await http("PUT", `/v1/functions/${uniqueName("ts-bad")}`, { runtime: "typescript", handler: "app.handler", files: unresolved });
    assert.equal(r2.status, 400, JSON.stringify(r2.body));
    assert.equal(r2.body.error.field, "files.app.ts");
    assert.match(r2.body.error.message, /app\.ts:2:\d+: Could not resolve "\.\/lib\/gret"/);
    const r3 = await http("PUT", `/v1/functions/${uniqueName("ts-bad")}`, { runtime: "typescript", handler: "main.handler", files });
    assert.equal(r3.status, 400);
    assert.equal(r3.body.error.field, "handler");
    assert.match(r3.body.error.message, /main\.ts/);
  });
});

describe("a bundle sent as a zip or tar.gz body", () => {
  for (const [kind, contentType, tool] of [
    ["zip", "application/zip", ["zip", "-qr"]],
    ["tar.gz", "application/gzip", ["tar", "-czf"]],
  ] as const) {
    test(`${kind}: the other fields come in the query string, and the version builds and runs`, async () => {
      const archive = join(buildDir, `bundle-${randomBytes(3).toString("hex")}.${kind}`);
      execFileSync(tool[0], [tool[1], archive, "."], { cwd: join(FIXTURES, "node-lodash") });
      const name = uniqueName(`js-archive-${kind.replace(".", "")}`);
      const res = await fetch(`${fabric.httpUrl}/v1/functions/${name}?runtime=nodejs&handler=app.handler&memoryMb=128`, {
        method: "PUT", headers: { "content-type": contentType }, body: await readFile(archive),
      });
      const put = (await res.json()) as any;
      assert.equal(res.status, 201, JSON.stringify(put));
      assert.equal(put.fileCount, 4);
      assert.equal(put.limits.memoryMb, 128);
      assert.equal((await builtVersion(name, 1)).build.status, "ready");
      const out = await http("POST", `/v1/functions/${name}/invoke`, { name: "zip", items: [1] });
      assert.deepEqual(out.body.output, { greeting: "hello, zip", chunks: [[1]], lodash: "4.17.21" }, JSON.stringify(out.body));
    });
  }

  test("an archive's query parameters with a JSON body are refused, naming the parameter", async () => {
    const r = await http("PUT", `/v1/functions/${uniqueName("q")}?runtime=python3`, { runtime: "python3", code: "def handler(e, c):\n    return 1\n" });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, "runtime");
  });
});

describe("a failed build", () => {
  test("answers BUILD_FAILED with the log's tail, keeps the log, and leaves no layer behind", async () => {
    const name = uniqueName("py-broken");
    const r = await http("PUT", `/v1/functions/${name}`, {
      runtime: "python3",
      handler: "app.handler",
      files: { "app.py": "def handler(e, c):\n    return 1\n", "requirements.txt": "weft-no-such-package-3f9a==0.0.1\n" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const def = await builtVersion(name, 1);
    assert.equal(def.build.status, "failed");
    assert.match(def.build.error, /weft-no-such-package-3f9a/);
    const call = await http("POST", `/v1/functions/${name}/invoke`, {});
    assert.equal(call.status, 422);
    assert.equal(call.body.error.code, "BUILD_FAILED");
    assert.match(call.body.error.message, /No matching distribution|weft-no-such-package-3f9a/);
    const log = await http("GET", `/v1/functions/${name}/versions/1/build`);
    assert.equal(log.body.build.status, "failed");
    assert.match(log.body.log, /pip/);
    assert.equal(existsSync(join(buildDir, "layers", def.build.layer)), false, "no half-built layer");
    const staging = join(buildDir, "staging");
    assert.deepEqual(existsSync(staging) ? await readdir(staging) : [], [], "nothing left in staging");
  });

  test("a single-file function has no build, and its build log is NOT_FOUND", async () => {
    const name = uniqueName("single");
    const r = await http("PUT", `/v1/functions/${name}`, { runtime: "python3", code: "def handler(e, c):\n    return 1\n" });
    assert.equal(r.status, 201);
    assert.equal(r.body.build, undefined);
    const log = await http("GET", `/v1/functions/${name}/versions/1/build`);
    assert.equal(log.status, 404);
  });
});
