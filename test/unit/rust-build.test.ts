// The rust function rules: the Cargo package checked at PUT (shared/bundle.ts), what a build compiles and which
// cargo cache it uses (controller/builds/rust-build.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { WeftError } from "../../shared/errors.js";
import { cargoPackageName, dependencyFilesOf, layerIdOf, normalizeBundle, versionMounts } from "../../shared/bundle.js";
import { FunctionSpec } from "../../shared/schemas/function.js";
import { cargoCacheKey, rustBuildInputs } from "../../controller/builds/rust-build.js";

const MANIFEST = '[package]\nname = "my-fn"\nversion = "0.1.0"\n\n[dependencies]\nserde_json = "1"\n';
const LIB = "pub fn handler(e: serde_json::Value) -> Result<serde_json::Value, String> { Ok(e) }\n";
const PACKAGE = { "Cargo.toml": MANIFEST, "Cargo.lock": "version = 4\n", "src/lib.rs": LIB };
const spec = (over: Record<string, unknown>) => FunctionSpec.parse({ runtime: "rust", ...over });
const refusal = (fn: () => unknown): WeftError => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WeftError);
    return err;
  }
  assert.fail("expected a refusal");
};
const bytes = (files: Record<string, string>) => new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)]));

test("the package name is read from [package] only, in either quote", () => {
  assert.equal(cargoPackageName(MANIFEST), "my-fn");
  assert.equal(cargoPackageName("[package]\nname='x_y' # c\n"), "x_y");
  assert.equal(cargoPackageName('[lib]\nname = "lib"\n[package]\nversion = "1"\nname = "p"\n'), "p");
  assert.equal(cargoPackageName('[dependencies]\nname = "nope"\n'), undefined);
  assert.equal(cargoPackageName('[package]\nname = "bad name"\n'), undefined);
});

test("a rust function is a Cargo package: code alone, a missing lockfile or package name, another handler are refused", () => {
  assert.equal(refusal(() => normalizeBundle(spec({ code: LIB }))).field, "files");
  const { "Cargo.lock": _l, ...noLock } = PACKAGE;
  assert.equal(refusal(() => normalizeBundle(spec({ files: noLock }))).field, "files.Cargo.lock");
  assert.equal(refusal(() => normalizeBundle(spec({ files: { ...PACKAGE, "Cargo.toml": "[workspace]\n" } }))).field, "files.Cargo.toml");
  const { "src/lib.rs": _s, ...noLib } = PACKAGE;
  assert.equal(refusal(() => normalizeBundle(spec({ files: noLib }))).field, "handler");
  assert.equal(refusal(() => normalizeBundle(spec({ files: PACKAGE, handler: "main.handler" }))).field, "handler");
  const n = normalizeBundle(spec({ files: PACKAGE }));
  assert.equal(n.code, LIB);
  assert.equal(n.handler, "src/lib.handler");
});

test("every file of the package addresses the layer, which is mounted where the runtime image runs the binary", () => {
  const files = bytes(PACKAGE);
  assert.equal(dependencyFilesOf("rust", files).size, 3);
  const other = bytes({ ...PACKAGE, "src/lib.rs": LIB.replace("Ok(e)", "Ok(e.clone())") });
  assert.notEqual(layerIdOf("rust", dependencyFilesOf("rust", files)), layerIdOf("rust", dependencyFilesOf("rust", other)));
  const mounts = versionMounts({ runtime: "rust", build: { status: "ready", bundleSha256: "b", layer: "rust-l", startedAt: "" } }, "/builds");
  assert.deepEqual(mounts.map((m) => m.target), ["/var/task", "/opt/weft/layer"]);
});

test("a build compiles the package beside Weft's wrapper, whose manifest names the package and keeps the lockfile", () => {
  const inputs = rustBuildInputs(bytes(PACKAGE));
  assert.equal(inputs.get("function/src/lib.rs")?.toString(), LIB);
  assert.match(inputs.get("weft-function/Cargo.toml")!.toString(), /function = \{ path = "\.\.\/function", package = "my-fn" \}/);
  assert.equal(inputs.get("weft-function/Cargo.lock")?.toString(), "version = 4\n");
  assert.ok(inputs.has("weft-function/src/main.rs") && inputs.has("weft-function/build.rs"));
});

test("the cargo cache is one per function and Cargo.lock: a new lib.rs keeps it, a new lock or another function does not", () => {
  const key = cargoCacheKey("f", rustBuildInputs(bytes(PACKAGE)));
  assert.equal(cargoCacheKey("f", rustBuildInputs(bytes({ ...PACKAGE, "src/lib.rs": "// changed\n" + LIB }))), key);
  assert.notEqual(cargoCacheKey("f", rustBuildInputs(bytes({ ...PACKAGE, "Cargo.lock": "version = 3\n" }))), key);
  assert.notEqual(cargoCacheKey("g", rustBuildInputs(bytes(PACKAGE))), key);
});
