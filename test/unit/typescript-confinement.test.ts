// A TypeScript bundle reads nothing of the controller's host at compile time. esbuild reads two kinds of file past its
// import guard: a config's `extends` (shared/tsconfig-extends.ts: one outside the bundle is refused before esbuild
// runs, one of a package, never installed at compile time, is dropped with a warning, as esbuild ignored it before),
// and a source map a script names in a sourceMappingURL comment (shared/typescript.ts: refused unless inline or
// inside the bundle).
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { confineConfigs, jsonFromJsonc } from "../../shared/tsconfig-extends.js";
import { bundleTypeScript } from "../../shared/typescript.js";

const filesOf = (o: Record<string, string>): Map<string, Buffer> => new Map(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));
const APP = { "app.ts": "export const handler = () => 1;\n" };
/** A valid tsconfig of the host this test runs on: esbuild would read it, and build with it, if let. */
const HOST_TSCONFIG = fileURLToPath(new URL("../../tsconfig.json", import.meta.url));

test("JSON with comments and trailing commas reads as JSON; strings keep their slashes and commas", () => {
  const text = '\ufeff// head\n{\n  "a": "http://x//y, }", /* c */\n  "b": [1, 2,], // tail\n  "c": "q\\"//",\n}\n';
  assert.deepEqual(JSON.parse(jsonFromJsonc(text)), { a: "http://x//y, }", b: [1, 2], c: 'q"//' });
});

test("a config extending a file outside the bundle is refused, naming the config and the line of its extends", async () => {
  for (const [label, target] of [["absolute", HOST_TSCONFIG], ["climbing out", `../../../../../../../../..${HOST_TSCONFIG}`], ["not JSON on the host", "/etc/passwd"]] as const) {
    const out = await bundleTypeScript(filesOf({ ...APP, "tsconfig.json": `{\n  "compilerOptions": {},\n  "extends": ${JSON.stringify(target)}\n}\n` }), "app.ts");
    assert.equal(out.ok, false, `${label}: built with a host file's config`);
    if (out.ok) continue;
    assert.equal(out.file, "tsconfig.json", label);
    assert.equal(out.line, 3, label);
    assert.match(out.message, /"extends" must name a config inside the bundle/);
  }
});

test("every config esbuild reads is checked: nested folders, jsconfig.json, arrays, and the configs they extend", () => {
  const refused = (files: Record<string, string>) => {
    const out = confineConfigs(filesOf({ ...APP, ...files }));
    return out.ok ? undefined : out.file;
  };
  assert.equal(refused({ "lib/tsconfig.json": `{"extends": "../../x.json"}` }), "lib/tsconfig.json");
  assert.equal(refused({ "jsconfig.json": `{"extends": ["./a.json", "/etc/host.json"]}`, "a.json": "{}" }), "jsconfig.json");
  assert.equal(refused({ "tsconfig.json": `{"extends": "./cfg/base"}`, "cfg/base.json": `{"extends": "../../etc/x.json"}` }), "cfg/base.json");
  assert.equal(refused({ "tsconfig.json": `{"extends": 7}` }), "tsconfig.json");
  assert.equal(refused({ "tsconfig.json": `{"extends": "./a.json",` }), "tsconfig.json", "a config that does not parse cannot be checked");
  assert.equal(refused({ "tsconfig.json": `// base\n{"extends": "./cfg/base", /* x */ "compilerOptions": {"strict": true,},}`, "cfg/base.json": `{"compilerOptions": {"target": "es2022"}}` }), undefined);
});

test("an extends of a package is dropped with a warning (packages are not installed at compile time), and the rest applies", async () => {
  const out = await bundleTypeScript(filesOf({
    "app.tsx": "export const handler = () => <b/>;\n",
    "tsconfig.json": `{"extends": "@tsconfig/node20/tsconfig.json", "compilerOptions": {"jsx": "react", "jsxFactory": "h"}}`,
  }), "app.tsx");
  assert.ok(out.ok, JSON.stringify(out));
  assert.match(out.warnings.join("\n"), /tsconfig\.json:1:2: "extends" of a package \("@tsconfig\/node20\/tsconfig\.json"\) is ignored/);
  assert.match(out.files.get(".weft-bundle.cjs")!.toString(), /h\("b"/, "the config's own options still apply");
});

test("a script naming a source map outside the bundle is refused with its file, line and column; inline and inside ones build", async () => {
  // A valid source map on the host: esbuild would put its sources' names into the bundle's map.
  const hostMap = join(tmpdir(), `weft-host-${process.pid}.map`);
  writeFileSync(hostMap, JSON.stringify({ version: 3, sources: ["HOST-ONLY.ts"], names: [], mappings: "AAAA" }));
  const refusals: Array<[string, Record<string, string>, string]> = [
    ["absolute", { "app.ts": `export const handler = () => 1;\n//# sourceMappingURL=${hostMap}\n` }, "app.ts"],
    ["a file: URL", { "app.ts": `export const handler = () => 1;\n//@ sourceMappingURL=file://${hostMap}\n` }, "app.ts"],
    ["climbing out, in an imported module", { "app.ts": 'import { x } from "./lib/x";\nexport const handler = () => x;\n', "lib/x.js": `exports.x = 1;\n/*# sourceMappingURL=../../../../../../../..${hostMap} */\n` }, "lib/x.js"],
  ];
  for (const [label, files, file] of refusals) {
    const out = await bundleTypeScript(filesOf(files), "app.ts");
    assert.equal(out.ok, false, `${label}: built, reading the host's source map: ${out.ok && out.files.get(".weft-bundle.cjs")!.toString().includes("HOST-ONLY")}`);
    if (out.ok) continue;
    assert.deepEqual([out.file, out.line, out.column], [file, 2, 1], label);
    assert.match(out.message, /names a source map outside the bundle/);
  }
  for (const [label, files] of [
    ["inline", { "app.ts": "export const handler = () => 1;\n//# sourceMappingURL=data:application/json;base64,e30=\n" }],
    ["inside the bundle", { "app.ts": 'import { x } from "./lib/x";\nexport const handler = () => x;\n', "lib/x.js": "exports.x = 1;\n//# sourceMappingURL=x.js.map\n", "lib/x.js.map": '{"version":3,"sources":["x.src.ts"],"names":[],"mappings":"AAAA"}' }],
  ] as const) {
    const out = await bundleTypeScript(filesOf(files), "app.ts");
    assert.ok(out.ok, `${label}: ${JSON.stringify(out)}`);
  }
});
