// Runtime names: aliases resolve at deploy, stored versions keep their runtime, TypeScript compiles with a source
// map and refuses bad syntax with its position. The conformance suite (test/conformance.test.ts) runs them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileFunction } from "node:vm";
import { FunctionDefinition, FunctionSpec } from "../../shared/schemas/function.js";
import { ExecuteRequest } from "../../shared/schemas/execution.js";
import { IMAGE_RUNTIMES, RUNTIMES, RUNTIME_BY_EXTENSION, imageRuntimeOf, isCompiled, resolveRuntime, runtimeToken } from "../../shared/runtimes.js";
import { transpileTypeScript } from "../../shared/typescript.js";

const stored = (runtime: string) =>
  FunctionDefinition.parse({
    runtime, code: "x", name: "f", incarnation: "0123456789abcdef", version: 1, codeSha256: "", createdAt: new Date(0).toISOString(),
  }).runtime;

test("python3 and nodejs mean the newest; exact names mean themselves", () => {
  assert.equal(resolveRuntime("python3"), "python3.13");
  assert.equal(resolveRuntime("nodejs"), "nodejs20");
  for (const r of RUNTIMES) assert.equal(resolveRuntime(r), r);
});

test("a version stored with an alias (before runtimes had versions) reads as what it was built for", () => {
  assert.equal(stored("python3"), "python3.11");
  assert.equal(stored("nodejs"), "nodejs18");
  for (const r of RUNTIMES) assert.equal(stored(r), r, "an exact runtime is kept as it is");
  assert.throws(() => stored("python3.12"));
});

test("every edge's schema takes the names and aliases, and nothing else", () => {
  for (const runtime of [...RUNTIMES, "python3", "nodejs"]) {
    assert.ok(FunctionSpec.safeParse({ runtime, code: "x" }).success, runtime);
    // A compiled runtime's worker exists only once a version is built: ad-hoc execution refuses it, naming runtime.
    const exec = ExecuteRequest.safeParse({ runtime, code: "x" });
    assert.equal(exec.success, !isCompiled(runtime), runtime);
    if (!exec.success) assert.deepEqual(exec.error.issues[0]?.path, ["runtime"]);
  }
  for (const runtime of ["python", "python3.12", "node", "nodejs22", "ts", "", "PYTHON3"]) {
    const bad = FunctionSpec.safeParse({ runtime, code: "x" });
    assert.equal(bad.success, false, runtime);
    assert.deepEqual(bad.error?.issues[0]?.path, ["runtime"]);
    assert.equal(ExecuteRequest.safeParse({ runtime, code: "x" }).success, false, runtime);
  }
});

test("each runtime runs on an image; typescript on Node 20's", () => {
  for (const r of RUNTIMES) assert.ok((IMAGE_RUNTIMES as readonly string[]).includes(imageRuntimeOf(r)), r);
  assert.equal(imageRuntimeOf("typescript"), "nodejs20");
});

test("the CLI infers the runtime from the extension", () => {
  assert.equal(RUNTIME_BY_EXTENSION[".py"], "python3");
  assert.equal(RUNTIME_BY_EXTENSION[".js"], "nodejs");
  assert.equal(RUNTIME_BY_EXTENSION[".ts"], "typescript");
});

test("a runtime is one NATS subject token", () => {
  for (const r of RUNTIMES) assert.doesNotMatch(runtimeToken(r), /[.*> ]/);
});

test("TypeScript ES modules and CommonJS compile to CommonJS with an inline source map", async () => {
  for (const source of [
    `import { EOL } from "node:os";\nexport const handler = async (e: { n: number }) => e.n + EOL.length;\n`,
    `const os = require("os");\nexports.handler = async (e: { n: number }) => e.n + os.EOL.length;\n`,
  ]) {
    const out = await transpileTypeScript(source);
    assert.ok(out.ok, JSON.stringify(out));
    assert.match(out.code, /\n\/\/# sourceMappingURL=data:application\/json;base64,/);
    const map = JSON.parse(Buffer.from(out.code.split("base64,")[1]!, "base64").toString());
    assert.deepEqual(map.sources, ["handler.ts"]);
    const module = { exports: {} as { handler?: (e: { n: number }) => Promise<number> } };
    compileFunction(out.code, ["exports", "require", "module"])(module.exports, (await import("node:module")).createRequire(import.meta.url), module);
    assert.equal(await module.exports.handler!({ n: 1 }), 2);
  }
});

test("TypeScript that does not parse is refused with file, line and column (from 1)", async () => {
  const out = await transpileTypeScript("// one\nexport const handler = async () => {\n  const x: number = ;\n};\n");
  assert.deepEqual(out.ok ? undefined : { file: out.file, line: out.line, column: out.column }, { file: "handler.ts", line: 3, column: 21 });
  const tla = await transpileTypeScript("export const handler = async () => 1;\nawait Promise.resolve();\n");
  assert.equal(tla.ok, false, "top-level await cannot be CommonJS");
});

test("types are stripped, not checked: a type error still deploys", async () => {
  assert.equal((await transpileTypeScript(`export const handler = async () => { const n: number = "no"; return n };\n`)).ok, true);
});
