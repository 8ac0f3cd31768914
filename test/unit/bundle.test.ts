// The bundle rules (shared/bundle.ts): paths, the entry module, sizes, content addresses, mounts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WeftError } from "../../shared/errors.js";
import { LIMITS } from "../../shared/limits.js";
import { bundleEnv, dependencyFilesOf, filesSha256, layerIdOf, normalizeBundle, pathProblem, versionFiles, versionMounts } from "../../shared/bundle.js";
import { FunctionSpec } from "../../shared/schemas/function.js";

const spec = (over: Record<string, unknown>) => FunctionSpec.parse({ runtime: "python3", ...over });
const refusal = (fn: () => unknown): WeftError => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WeftError);
    return err;
  }
  assert.fail("expected a refusal");
};

test("paths must stay inside the bundle", () => {
  for (const ok of ["app.py", "lib/a.py", "a b/c.txt", "..hidden", "x..y/z"]) assert.equal(pathProblem(ok), undefined, ok);
  for (const bad of ["", "/abs", "../x", "a/../../x", "a//b", "./a", "a/.", "a\\b", "a\u0000b", "x".repeat(LIMITS.bundlePathBytes + 1)]) {
    assert.ok(pathProblem(bad), JSON.stringify(bad));
  }
});

test("a single file stays as it was; a handler other than the default needs a bundle", () => {
  const n = normalizeBundle(spec({ code: "def handler(e, c): pass\n" }));
  assert.equal(n.files, undefined);
  assert.equal(refusal(() => normalizeBundle(spec({ code: "x", handler: "app.handler" }))).field, "handler");
  assert.equal(refusal(() => normalizeBundle(spec({}))).field, "code");
});

test("the entry module's source becomes code; code with files is the entry", () => {
  const n = normalizeBundle(spec({ handler: "lib/app.main", files: { "lib/app.py": "def main(e, c): pass\n", "lib/u.py": "" } }));
  assert.equal(n.code, "def main(e, c): pass\n");
  assert.deepEqual(Object.keys(n.files!).sort(), ["lib/app.py", "lib/u.py"]);
  const m = normalizeBundle(spec({ handler: "app.handler", code: "def handler(e, c): pass\n", files: { "requirements.txt": "numpy\n" } }));
  assert.equal(m.files!["app.py"], "def handler(e, c): pass\n");
  assert.equal(refusal(() => normalizeBundle(spec({ handler: "app.handler", code: "x", files: { "app.py": "y" } }))).field, "code");
});

test("node entries are found among .js, .cjs and .mjs", () => {
  const n = normalizeBundle(spec({ runtime: "nodejs", handler: "index.handler", files: { "index.mjs": "export const handler = () => 1;\n" } }));
  assert.match(n.code, /export const handler/);
});

test("sizes are bounded: files and decoded bytes", () => {
  const big = refusal(() => normalizeBundle(spec({ handler: "app.handler", files: { "app.py": "x", "b.bin": { base64: Buffer.alloc(LIMITS.bundleBytes).toString("base64") } } })));
  assert.equal(big.code, "PAYLOAD_TOO_LARGE");
  assert.equal(big.field, "files");
});

test("the layer is addressed by the dependency files alone, per runtime", () => {
  const a = versionFiles({ files: { "app.py": "1", "requirements.txt": "numpy\n" } });
  const b = versionFiles({ files: { "app.py": "2", "other.py": "", "requirements.txt": "numpy\n" } });
  const c = versionFiles({ files: { "app.py": "1", "requirements.txt": "numpy==2.0\n" } });
  const id = (files: Map<string, Buffer>, runtime = "python3") => layerIdOf(runtime, dependencyFilesOf(runtime, files));
  assert.equal(id(a), id(b));
  assert.notEqual(id(a), id(c));
  assert.notEqual(filesSha256(a), filesSha256(b));
  assert.equal(dependencyFilesOf("nodejs", versionFiles({ files: { "package-lock.json": "{}" } })).size, 0, "a lockfile alone installs nothing");
});

test("a built version mounts its files and layer read-only where its language looks", () => {
  const build = { status: "ready" as const, bundleSha256: "abc", layer: "python3-1", startedAt: "" };
  assert.deepEqual(versionMounts({ runtime: "python3.13", build }, "/b"), [
    { source: "/b/code/abc", target: "/var/task" },
    { source: "/b/layers/python3-1", target: "/opt/weft/layer" },
  ]);
  assert.equal(versionMounts({ runtime: "nodejs20", build: { ...build, layer: "nodejs-1" } }, "/b")[1]!.target, "/var/task/node_modules");
  assert.deepEqual(versionMounts({ runtime: "python3.13" }, "/b"), []);
  assert.deepEqual(bundleEnv({ runtime: "python3.13", build, handler: "app.handler" }), {
    WEFT_TASK_ROOT: "/var/task",
    WEFT_HANDLER: "app.handler",
    WEFT_LAYER: "/opt/weft/layer/python",
  });
});
