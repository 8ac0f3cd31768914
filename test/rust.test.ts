// The rust runtime on the real fabric (issue 12): a Cargo library package using serde_json is compiled once per
// version by cargo in a builder container (crates.io reached from inside it), into one binary that is the worker of
// its containers; a second version with the same Cargo.lock reuses the cargo cache (only the function recompiles);
// a compile error is a failed build whose log names the file and line; calls run warm. Figures printed beside the
// floors measured in the same run: GET /healthz over the same HTTP client, and a raw NATS request-reply.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { eventually, http as httpAt, startFabric, type Fabric } from "./harness/fabric.js";

const PROBE = join(import.meta.dirname, "fixtures", "rust", "probe");
const FILES = Object.fromEntries(["Cargo.toml", "Cargo.lock", "src/lib.rs"].map((f) => [f, readFileSync(join(PROBE, f), "utf8")]));
/** A cold build downloads and compiles serde_json; the first on a machine also makes the builder image. */
const BUILD_MS = 900_000;
const SAMPLES = 15;

let fabric: Fabric;
let buildDir: string;
let nc: NatsConnection;
const http = (method: string, path: string, body?: unknown) => httpAt(fabric.httpUrl, method, path, body);
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

before(async () => {
  // A build directory of this run's own: the first build here is a cold one (no cargo cache, no layer).
  buildDir = await mkdtemp(join(tmpdir(), "weft-rust-builds-"));
  fabric = await startFabric({
    controllerEnv: { WEFT_BUILD_DIR: buildDir },
    agentEnv: { WEFT_BUILD_DIR: buildDir, WEFT_STEM_ISOLATIONS: "runc" },
    gatewayEnv: { WEFT_BUILD_WAIT_MS: "500" },
  });
  nc = await connect({ servers: fabric.nats.url });
  nc.subscribe("rust-test.echo", { callback: (_err, m) => void m.respond(m.data) });
});

after(async () => {
  await nc?.close();
  await fabric?.stop();
  await rm(buildDir, { recursive: true, force: true });
});

describe("a rust function is checked at PUT, naming the field", () => {
  test("code alone, a missing Cargo.lock or a manifest without a package name is refused", async () => {
    const put = (body: Record<string, unknown>) => http("PUT", `/v1/functions/${uniqueName("rs-bad")}`, { runtime: "rust", ...body });
    const alone = await put({ code: FILES["src/lib.rs"] });
    assert.equal(alone.status, 400, JSON.stringify(alone.body));
    assert.equal(alone.body.error.field, "files");
    const { "Cargo.lock": _lock, ...noLock } = FILES;
    const r1 = await put({ files: noLock });
    assert.equal(r1.status, 400);
    assert.equal(r1.body.error.field, "files.Cargo.lock");
    const r2 = await put({ files: { ...FILES, "Cargo.toml": "[dependencies]\nserde_json = \"1\"\n" } });
    assert.equal(r2.status, 400);
    assert.equal(r2.body.error.field, "files.Cargo.toml");
    const r3 = await put({ files: FILES, handler: "main.handler" });
    assert.equal(r3.status, 400);
    assert.equal(r3.body.error.field, "handler");
  });

  test("ad-hoc execution refuses rust, naming runtime", async () => {
    const r = await http("POST", "/v1/execute", { runtime: "rust", code: "fn main() {}" });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.field, "runtime");
  });
});

describe("a rust function using serde_json", () => {
  const name = uniqueName("rs-fn");

  test("builds cold (cargo downloads and compiles serde_json), then answers warm calls", async () => {
    const put = await http("PUT", `/v1/functions/${name}`, { runtime: "rust", files: FILES, concurrency: 2 });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    assert.equal(put.body.build.status, "building");
    const pending = await http("POST", `/v1/functions/${name}/invoke`, { op: "echo", value: 1 });
    assert.equal(pending.status, 503, "a call while cargo compiles is BUILD_PENDING");
    assert.equal(pending.body.error.code, "BUILD_PENDING");
    const def = await builtVersion(name, 1);
    assert.equal(def.build.status, "ready", def.build.error);
    assert.equal(def.build.cached, false);
    const log = await http("GET", `/v1/functions/${name}/versions/1/build`);
    assert.equal(log.status, 200);
    assert.match(log.body.log, /rustc 1\.85/);
    assert.match(log.body.log, /Compiling serde_json v1\./);
    assert.match(log.body.log, /Compiling probe v0\.1\.0/);
    const first = await invokeTimed(name, { op: "echo", value: { a: [1, "é"] } });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, "ok", JSON.stringify(first.body));
    assert.deepEqual(first.body.output, { a: [1, "é"] });
    const warm: number[] = [];
    const healthz: number[] = [];
    const natsFloor: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const r = await invokeTimed(name, { op: "echo", value: i });
      assert.equal(r.body.status, "ok", JSON.stringify(r.body));
      assert.equal(r.body.coldStart, false, "warm calls reuse the container");
      warm.push(r.ms);
      healthz.push(await timed(() => http("GET", "/healthz")));
      natsFloor.push(await timed(() => nc.request("rust-test.echo", "x")));
    }
    console.log(
      `# rust runc: cold build ${def.build.durationMs} ms, layer (the binary) ${(def.build.layerBytes / 1024).toFixed(0)} KiB, ` +
        `first call ${first.ms.toFixed(0)} ms, warm p50 ${median(warm).toFixed(1)} ms; floors: GET /healthz p50 ${median(healthz).toFixed(1)} ms, ` +
        `NATS request-reply p50 ${median(natsFloor).toFixed(2)} ms`,
    );
    assert.ok(def.build.layerBytes > 100 * 1024 && def.build.layerBytes < 20 * 1024 * 1024, `one stripped binary (${def.build.layerBytes} bytes)`);
  });

  test("a new version with the same Cargo.lock reuses the cargo cache: only the function recompiles", async () => {
    const cold = (await http("GET", `/v1/functions/${name}?version=1`)).body.build.durationMs as number;
    const lib = FILES["src/lib.rs"]!.replace('"echo" => Ok(event["value"].clone()),', '"echo" => Ok(json!({"v2": event["value"].clone()})),');
    assert.notEqual(lib, FILES["src/lib.rs"]);
    const put = await http("PUT", `/v1/functions/${name}`, { runtime: "rust", files: { ...FILES, "src/lib.rs": lib }, concurrency: 2 });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    const def = await builtVersion(name, 2);
    assert.equal(def.build.status, "ready", def.build.error);
    const log = (await http("GET", `/v1/functions/${name}/versions/2/build`)).body.log as string;
    assert.match(log, /Compiling probe v0\.1\.0/);
    assert.doesNotMatch(log, /Compiling serde_json/, "serde_json comes from the cache");
    assert.doesNotMatch(log, /Downloaded /, "nothing is downloaded again");
    const r = await invokeTimed(name, { op: "echo", value: 7 });
    assert.equal(r.body.status, "ok", JSON.stringify(r.body));
    assert.deepEqual(r.body.output, { v2: 7 });
    console.log(`# rust: cached build (same Cargo.lock, new src/lib.rs) ${def.build.durationMs} ms vs cold ${cold} ms`);
    assert.ok(def.build.durationMs < cold, `cached ${def.build.durationMs} ms < cold ${cold} ms`);
  });

  test("a compile error fails the build; its log and a call's BUILD_FAILED name the file and line", async () => {
    // Version 3 of the same function: the cargo cache has serde_json, so only the broken package compiles.
    const lib = "use serde_json::Value;\n\npub fn handler(event: Value) -> Result<Value, String> {\n    Ok(event +)\n}\n";
    const put = await http("PUT", `/v1/functions/${name}`, { runtime: "rust", files: { ...FILES, "src/lib.rs": lib } });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    const def = await builtVersion(name, 3);
    assert.equal(def.build.status, "failed");
    assert.match(def.build.error, /src\/lib\.rs:4/);
    const r = await http("POST", `/v1/functions/${name}/invoke`, {});
    assert.equal(r.body.error.code, "BUILD_FAILED", JSON.stringify(r.body));
    assert.match(r.body.error.message, /src\/lib\.rs:4/);
  });

  test("a panic is a handler error of type Panic, and the container keeps serving", async () => {
    const lib = FILES["src/lib.rs"]!.replace('"echo" => Ok(event["value"].clone()),', '"echo" => Ok(event["value"].clone()),\n        "panic" => panic!("on purpose {}", event["n"]),\n        "spawn" => { std::thread::spawn(|| loop { std::thread::sleep(Duration::from_secs(1)) }); Ok(json!("left")) }');
    const put = await http("PUT", `/v1/functions/${name}`, { runtime: "rust", files: { ...FILES, "src/lib.rs": lib } });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    assert.equal((await builtVersion(name, 4)).build.status, "ready");
    const panicky = name;
    const p = await http("POST", `/v1/functions/${panicky}/invoke`, { op: "panic", n: 3 });
    assert.equal(p.body.status, "error", JSON.stringify(p.body));
    assert.equal(p.body.error.code, "HANDLER_ERROR");
    assert.equal(p.body.error.type, "Panic");
    assert.match(p.body.error.message, /on purpose 3/);
    assert.match(p.body.logs, /panicked at \S*src\/lib\.rs/);
    const after = await http("POST", `/v1/functions/${panicky}/invoke`, { op: "echo", value: "still" });
    assert.equal(after.body.status, "ok", JSON.stringify(after.body));
    assert.equal(after.body.coldStart, false);
  });

  test("a thread the handler leaves running retires its container (the runner's check holds for rust too)", async () => {
    const warm = await http("POST", `/v1/functions/${name}/invoke`, { op: "echo", value: 1 });
    assert.equal(warm.body.coldStart, false, JSON.stringify(warm.body));
    const left = await http("POST", `/v1/functions/${name}/invoke`, { op: "spawn" });
    assert.equal(left.body.status, "ok", JSON.stringify(left.body));
    assert.equal(left.body.output, "left");
    const next = await http("POST", `/v1/functions/${name}/invoke`, { op: "echo", value: 2 });
    assert.equal(next.body.status, "ok", JSON.stringify(next.body));
    assert.equal(next.body.coldStart, true, "the container with a leftover thread was removed");
  });

  test("a Cargo.lock that does not match Cargo.toml fails the build (it must be repeatable), before compiling", async () => {
    const stale = uniqueName("rs-stale");
    const manifest = FILES["Cargo.toml"]!.replace('serde_json = "1"', 'serde_json = "1"\nitoa = "1"');
    const put = await http("PUT", `/v1/functions/${stale}`, { runtime: "rust", files: { ...FILES, "Cargo.toml": manifest } });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    const def = await builtVersion(stale, 1);
    assert.equal(def.build.status, "failed");
    assert.match(def.build.error, /--locked/);
    assert.doesNotMatch(def.build.error, /Compiling/);
  });
});

describe("a Cargo folder deployed with the CLI (weft deploy FOLDER)", () => {
  const BIN = join(import.meta.dirname, "..", "clients", "cli", "bin", "weft.js");
  /** Runs `weft args…` against the fabric: exit code, stdout, stderr. */
  function weft(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, WEFT_URL: fabric.httpUrl }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    return new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  }

  test("is packed without target/, named after the folder, deployed as rust with src/lib.handler, built and invoked", async () => {
    // The probe's own files: the layer the cold build above made is theirs, so this build finds it.
    const name = uniqueName("rs-cli");
    const folder = join(buildDir, name);
    await cp(PROBE, folder, { recursive: true });
    await mkdir(join(folder, "target", "release"), { recursive: true });
    await writeFile(join(folder, "target", "release", "probe"), "a local build: never packed");
    const deployed = await weft(["deploy", folder]);
    assert.equal(deployed.code, 0, `${deployed.stderr}${deployed.stdout}`);
    assert.equal(deployed.stdout.trim(), `created ${name} version 1 (rust, runc)`);
    assert.match(deployed.stderr, /^built in [\d.]+s/m, deployed.stderr);
    const got = await http("GET", `/v1/functions/${name}`);
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.deepEqual(Object.keys(got.body.files).sort(), ["Cargo.lock", "Cargo.toml", "src/lib.rs"]);
    assert.equal(got.body.handler, "src/lib.handler");
    assert.equal(got.body.build.status, "ready");
    const out = await weft(["invoke", name, "--data", '{"op":"echo","value":{"via":"cli"}}']);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), { via: "cli" });
    const failed = await weft(["invoke", name, "--data", '{"op":"error","why":"cli"}']);
    assert.equal(failed.code, 1, "a handler error exits 1");
    assert.match(failed.stderr, /HANDLER_ERROR/);
  });
});
