// Garbage collection of the build directory on the real fabric: a dependency layer (and a version's files) stays
// while any stored version references it, however many versions sharing it were deleted, and is removed a grace
// period after the last one went; builds running meanwhile are never disturbed. Short interval and grace here;
// the defaults are 10 minutes and an hour.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { eventually, http as httpAt, startFabric, type Fabric } from "./harness/fabric.js";

const FIXTURE = join(import.meta.dirname, "fixtures", "bundles", "node-lodash");
const BUILD_MS = 300_000;
const GRACE_MS = 3000;

let fabric: Fabric;
let buildDir: string;
const http = (method: string, path: string, body?: unknown) => httpAt(fabric.httpUrl, method, path, body);
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

async function lodashFiles(description?: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(FIXTURE, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[relative(FIXTURE, join(entry.parentPath, entry.name))] = await readFile(join(entry.parentPath, entry.name), "utf8");
  }
  // A package.json of its own is a dependency set of its own: a layer no other version shares.
  if (description) out["package.json"] = JSON.stringify({ ...JSON.parse(out["package.json"]!), description }, null, 2);
  return out;
}

async function deployed(name: string, files: Record<string, string>): Promise<{ layer: string; bundle: string }> {
  const r = await http("PUT", `/v1/functions/${name}`, { runtime: "nodejs", handler: "app.handler", files });
  assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body));
  const def = await eventually(async () => {
    const g = await http("GET", `/v1/functions/${name}?version=${r.body.version}`);
    return g.body.build?.status !== "building" ? g.body : undefined;
  }, `the build of ${name}`, BUILD_MS, 300);
  assert.equal(def.build.status, "ready", def.build.error);
  return { layer: `layers/${def.build.layer}`, bundle: `code/${def.build.bundleSha256}` };
}

async function answers(name: string): Promise<void> {
  const r = await http("POST", `/v1/functions/${name}/invoke`, { name: "gc", items: [1] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.output, { greeting: "hello, gc", chunks: [[1]], lodash: "4.17.21" });
}

const present = (entry: string) => existsSync(join(buildDir, entry));
const removed = (entry: string) => eventually(async () => !present(entry) || undefined, `${entry} removed`, 60_000, 200);

before(async () => {
  buildDir = await mkdtemp(join(tmpdir(), "weft-gc-builds-"));
  fabric = await startFabric({
    controllerEnv: { WEFT_BUILD_DIR: buildDir, WEFT_BUILD_GC_INTERVAL_MS: "300", WEFT_BUILD_GC_GRACE_MS: String(GRACE_MS), WEFT_BUILD_GC_BATCH: "1" },
    agentEnv: { WEFT_BUILD_DIR: buildDir, WEFT_STEM_ISOLATIONS: "runc" },
  });
});

after(async () => {
  await fabric?.stop();
  await rm(buildDir, { recursive: true, force: true });
});

test("a shared layer outlives a deleted sharer, a deleted version's own layer goes after the grace, and the last sharer's delete frees the rest", async () => {
  // Built while the collector sweeps every 300 ms: a build in progress (its staging folder, its version
  // referencing a layer not there yet) is never touched.
  const [a, b, e] = [uniqueName("gc-a"), uniqueName("gc-b"), uniqueName("gc-e")];
  const shared = await deployed(a, await lodashFiles());
  assert.deepEqual(await deployed(b, await lodashFiles()), shared, "same files: same layer and same bundle folder");
  const e1 = await deployed(e, await lodashFiles(`${e} v1`));
  const e2 = await deployed(e, await lodashFiles(`${e} v2`));
  await answers(a);
  await answers(b);

  assert.equal((await http("DELETE", `/v1/functions/${a}`)).status, 200);
  assert.equal((await http("DELETE", `/v1/functions/${e}/versions/1`)).status, 200);
  const deletedAt = Date.now();
  assert.ok(present(e1.layer), "not removed before its grace period");

  await removed(e1.layer);
  await removed(e1.bundle);
  assert.ok(Date.now() - deletedAt >= GRACE_MS - 500, `removed after the grace period (${Date.now() - deletedAt} ms)`);
  // By now sweeps have run for longer than the grace period since a's delete, which came first.
  assert.ok(present(shared.layer) && present(shared.bundle), "b still uses the layer and the files a shared");
  assert.ok(present(e2.layer) && present(e2.bundle), "e's version 2 is untouched");
  await answers(b);
  await answers(e);

  assert.equal((await http("DELETE", `/v1/functions/${b}`)).status, 200);
  assert.equal((await http("DELETE", `/v1/functions/${e}`)).status, 200);
  for (const entry of [shared.layer, shared.bundle, e2.layer, e2.bundle]) await removed(entry);
  assert.deepEqual(await readdir(join(buildDir, "layers")), []);
  assert.deepEqual(await readdir(join(buildDir, "code")), []);
  assert.deepEqual(await readdir(join(buildDir, "staging")), [], "nothing set aside is left");
});
