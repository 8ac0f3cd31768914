// TypeScript bundles (shared/typescript.ts bundleTypeScript): every file's syntax is checked, the entry and its local
// modules are bundled with packages left to the layer, and the source map names the bundle's own files. The output
// is run here by the same Node the runtime image has (a child process), to see the stack a thrown error has.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { bundleEnv, normalizeBundle, TS_BUNDLE_LOADER, TS_BUNDLE_OUTPUT } from "../../shared/bundle.js";
import { bundleTypeScript } from "../../shared/typescript.js";
import { WeftError } from "../../shared/errors.js";
import { FunctionSpec } from "../../shared/schemas/function.js";

const filesOf = (o: Record<string, string>): Map<string, Buffer> => new Map(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));

const ESM = {
  "app.ts": [
    'import { greet } from "./lib/greet";',
    'import { two } from "@lib/two";',
    "export const handler = async (event: { name: string; fail?: boolean }) => {",
    "  if (event.fail) greet.boom();",
    "  return { g: greet(event.name), n: two };",
    "};",
    "",
  ].join("\n"),
  "lib/greet.ts": [
    "interface G { (n: string): string; boom(): never }",
    "export const greet: G = Object.assign((n: string) => `hi ${n}`, {",
    "  boom(): never {",
    '    throw new RangeError("boom in greet");',
    "  },",
    "});",
    "",
  ].join("\n"),
  "lib/two.ts": "export const two: number = 2;\n",
  "tsconfig.json": '{ // JSONC, as tsc reads it\n  "compilerOptions": { "baseUrl": ".", "paths": { "@lib/*": ["lib/*"] }, },\n}\n',
};

/** Lays out the bundle with what esbuild added, requires the loader in a child Node, and calls the handler. */
async function run(files: Map<string, Buffer>, fn: string, event: unknown): Promise<any> {
  const dir = await mkdtemp(join(tmpdir(), "weft-ts-run-"));
  try {
    for (const [path, bytes] of files) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), bytes);
    }
    const script = `require(${JSON.stringify(join(dir, TS_BUNDLE_LOADER))}).${fn}(${JSON.stringify(event)})
      .then((v) => console.log(JSON.stringify({ v })), (e) => console.log(JSON.stringify({ type: e.name, stack: e.stack })))`;
    return JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function bundled(o: Record<string, string>, entry: string): Promise<Map<string, Buffer>> {
  const files = filesOf(o);
  const out = await bundleTypeScript(files, entry);
  assert.ok(out.ok, JSON.stringify(out));
  assert.deepEqual([...out.files.keys()].sort(), [TS_BUNDLE_LOADER, TS_BUNDLE_OUTPUT].sort());
  for (const [k, v] of out.files) files.set(k, v);
  return files;
}

test("ES modules with tsconfig paths: local modules are inlined, and a stack names the TypeScript file and line", async () => {
  const files = await bundled(ESM, "app.ts");
  const map = JSON.parse(Buffer.from(files.get(TS_BUNDLE_OUTPUT)!.toString().split("base64,")[1]!, "base64").toString());
  assert.deepEqual([...map.sources].sort(), ["app.ts", "lib/greet.ts", "lib/two.ts"]);
  assert.equal(map.sourcesContent, undefined, "the sources stay out of the map");
  assert.deepEqual((await run(files, "handler", { name: "ts" })).v, { g: "hi ts", n: 2 });
  const failed = await run(files, "handler", { name: "ts", fail: true });
  assert.equal(failed.type, "RangeError");
  assert.match(failed.stack, /\/lib\/greet\.ts:4:11\)/, failed.stack);
  assert.match(failed.stack, /\/app\.ts:4:25\)/, failed.stack);
});

test("CommonJS sources (require, module.exports) bundle too; packages stay require()s for the layer", async () => {
  const files = await bundled({
    "src/main.ts": 'const { double } = require("./math");\nconst os: typeof import("node:os") = require("node:os");\nmodule.exports.run = async (e: { x: number }) => ({ y: double(e.x), os: typeof os.cpus });\n',
    "src/math.ts": "export = { double: (x: number): number => x * 2 };\n",
    "src/unused.ts": 'import _ from "lodash";\nexport const chunks = _.chunk([1, 2, 3], 2);\n',
  }, "src/main.ts");
  assert.deepEqual((await run(files, "run", { x: 21 })).v, { y: 42, os: "function" });
  const withPackage = await bundled({ "app.ts": 'import _ from "lodash";\nexport const handler = () => _.VERSION;\n' }, "app.ts");
  assert.match(withPackage.get(TS_BUNDLE_OUTPUT)!.toString(), /require\("lodash"\)/);
});

test("a syntax error in any file, imported or not, is refused with its path, line and column", async () => {
  const out = await bundleTypeScript(filesOf({ ...ESM, "lib/spare.ts": "export const ok = 1;\nexport const bad = (x: number => x;\n" }), "app.ts");
  assert.equal(out.ok, false);
  assert.deepEqual(out.ok ? {} : { file: out.file, line: out.line, column: out.column }, { file: "lib/spare.ts", line: 2, column: 31 });
});

test("an import that does not resolve, or leaves the bundle, is refused at the importing line", async () => {
  const missing = await bundleTypeScript(filesOf({ ...ESM, "app.ts": ESM["app.ts"].replace("./lib/greet", "./lib/gret") }), "app.ts");
  assert.ok(!missing.ok);
  assert.deepEqual([missing.file, missing.line, missing.column], ["app.ts", 1, 23]);
  assert.match(missing.message, /Could not resolve "\.\/lib\/gret"/);
  const outside = await mkdtemp(join(tmpdir(), "weft-ts-host-"));
  try {
    await writeFile(join(outside, "secret.json"), '{"token": "host-secret-3f9a"}');
    for (const escape of [join(outside, "secret.json"), `../../../../../../..${outside}/secret.json`]) {
      const out = await bundleTypeScript(filesOf({ "app.ts": `import s from ${JSON.stringify(escape)};\nexport const handler = () => s;\n` }), "app.ts");
      assert.ok(!out.ok, escape);
      assert.deepEqual([out.file, out.line, out.message], ["app.ts", 1, "imports a file outside the bundle"]);
      assert.doesNotMatch(JSON.stringify(out), /host-secret/);
    }
  } finally {
    await rm(outside, { recursive: true, force: true });
  }
});

test("a TypeScript bundle's entry is found among .ts files; Weft's own file names are refused; the worker runs the loader", () => {
  const spec = FunctionSpec.parse({ runtime: "typescript", handler: "src/app.main", files: { "src/app.ts": "export const main = () => 1;\n" } });
  const n = normalizeBundle(spec);
  assert.equal(n.code, "export const main = () => 1;\n");
  try {
    normalizeBundle(FunctionSpec.parse({ runtime: "typescript", handler: "app.handler", files: { "app.ts": "x", [TS_BUNDLE_OUTPUT]: "y" } }));
    assert.fail("expected a refusal");
  } catch (err) {
    assert.ok(err instanceof WeftError);
    assert.equal(err.field, `files.${TS_BUNDLE_OUTPUT}`);
  }
  const env = bundleEnv({ runtime: "typescript", handler: "src/app.main", build: { status: "ready", bundleSha256: "x", startedAt: "" } });
  assert.equal(env.WEFT_HANDLER, ".weft-handler.main");
});
