// The hostile suite through the TypeScript bundle build (issue 12): the Node kit's attacks (forged frames, the result
// pipe, work left behind by timers, immediates, microtasks, workers and children) deployed as a TypeScript folder (an
// entry, a local module holding the attack, a tsconfig.json extending one of its own), so esbuild's bundle and its
// loader are what runs. The bundle build must add no hole: the outcomes are those of the plain Node runtime. And
// escapes at build time, imports and configs reaching for the controller's files, are refused with 400 naming the file.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { jsHandler } from "./kit-node.js";
import { BATCH, ISOLATIONS, hostileSuite, type Hostile, type Isolation } from "./suite.js";
import { FORGED_OK, MALFORMED, forger, resultPipeFrames, type Forgery } from "./forgery.js";
import { assertNextCallGenuine, assertNotForged } from "./outcomes.js";
import { LEAK_TIMEOUT_MS, assertNothingOutlivesTheCall } from "./leftover-check.js";
import { LEFTOVER_ATTACKS, leaker } from "./leftover-attacks.js";

const suite = hostileSuite();

/** The attacks left behind by Node's own means, and a child: those a bundle's loader could change. */
const LEFTOVERS = ["thread", "timer", "hidden-interval", "immediate", "microtask", "child"];

/** A host file the controller can read: a bundle must not get at it. */
const HOST_FILE = fileURLToPath(new URL("../../package.json", import.meta.url));

/**
 * A TypeScript folder whose entry hands each call to `js` (a CommonJS module of the Node kit, kept as
 * lib/attack.ts): esbuild bundles the two, ES module and CommonJS, into what the runtime loads.
 */
function tsFolder(js: string): Record<string, string> {
  return {
    "app.ts": `import * as attack from "./lib/attack";

interface Context { invocationId: string; functionName: string }
type Handler = (event: unknown, context: Context) => Promise<unknown>;

export const handler: Handler = (event, context) => (attack as unknown as { handler: Handler }).handler(event, context);
`,
    "lib/attack.ts": js,
    "tsconfig.json": '{\n  // the kit is JavaScript: nothing to satisfy\n  "extends": "./tsconfig.base.json",\n  "compilerOptions": { "strict": false, },\n}\n',
    "tsconfig.base.json": '{ "compilerOptions": { "target": "es2022" } }',
  };
}

async function deployFolder(h: Hostile, isolation: Isolation, label: string, js: string, timeoutMs = 10_000): Promise<string> {
  const name = h.name(`ts-${label}`);
  await h.deployBuilt(name, { runtime: "typescript", isolation, handler: "app.handler", files: tsFolder(js), limits: { timeoutMs, memoryMb: 192 } });
  return name;
}

async function forgingCase(h: Hostile, isolation: Isolation, label: string, f: Forgery): Promise<void> {
  const name = await deployFolder(h, isolation, label, forger("nodejs", f));
  try {
    assertNotForged(await h.settled(await h.invoke(name, {}), ["ok", "killed"], "the forging call"));
    await assertNextCallGenuine(h, name);
  } finally {
    await h.request("DELETE", `/v1/functions/${name}`);
  }
}

describe("typescript bundles: hostile handlers", { concurrency: BATCH }, () => {
  suite.baselines();
  for (const isolation of ISOLATIONS) {
    const where = { runtime: "typescript", isolation };

    suite.case("writes token-bearing result frames to fds 1, 2 and 3 with every token in any environ", where, (h) =>
      forgingCase(h, isolation, "forge-environ", { tokens: "environ", routes: "fds 1-3", frames: FORGED_OK }));

    suite.case("sprays malformed frames down every fd of every process", where, (h) =>
      forgingCase(h, isolation, "forge-malformed", { tokens: "environ", routes: "everywhere", frames: MALFORMED }));

    suite.case("speaks the worker protocol on its result pipe (fd 4): unknown ids, outputBytes past the limit, a 100 KiB header, runner frames, error null", where, async (h) => {
      const name = await deployFolder(h, isolation, "fd4", jsHandler(`if (event.probe) return { genuine: true };
for (const id of RUN_IDS) { try { writeAll(4, Buffer.from(event.frame.replaceAll("ID", id))); } catch (e) {} }
return { genuine: true };`));
      try {
        for (const [kind, frame] of Object.entries(resultPipeFrames("nodejs"))) {
          assertNotForged(await h.settled(await h.invoke(name, { frame }), ["ok", "killed"], `the ${kind} frame`), `the ${kind} frame`);
          await assertNextCallGenuine(h, name, `the call after the ${kind} frame`);
        }
      } finally {
        await h.request("DELETE", `/v1/functions/${name}`);
      }
    });

    for (const c of LEFTOVER_ATTACKS.filter((a) => LEFTOVERS.includes(a.label))) {
      suite.case(c.attack, where, async (h) =>
        assertNothingOutlivesTheCall(h, await deployFolder(h, isolation, `leak-${c.label}`, leaker("nodejs", c.leak.js!), LEAK_TIMEOUT_MS), { start: true }));
    }
  }

  suite.case("escapes the bundle at build: imports and configs reaching for the controller's files are refused with 400 naming the file", { isolation: "runc", runtime: "typescript" }, async (h) => {
    const entry = (imports: string) => `${imports}\nexport const handler = async () => ({ leaked: typeof stolen === "undefined" ? null : stolen });\n`;
    const escapes: Array<[string, Record<string, string>, string]> = [
      ["an absolute import", { "app.ts": entry(`import stolen from ${JSON.stringify(HOST_FILE)};`) }, "app.ts"],
      ["an import of /etc/passwd", { "app.ts": entry('import stolen from "/etc/passwd";') }, "app.ts"],
      ["a ../ import from a nested module", { "app.ts": entry('import { stolen } from "./lib/steal";'), "lib/steal.ts": `export { default as stolen } from "../../../../../../../../..${HOST_FILE}";\n` }, "lib/steal.ts"],
      ["a require", { "app.ts": entry(`const stolen = require(${JSON.stringify(HOST_FILE)});`) }, "app.ts"],
      ["a dynamic import", { "app.ts": entry(`const stolen = import(${JSON.stringify(`../../../../../../../..${HOST_FILE}`)});`) }, "app.ts"],
      ["tsconfig paths onto the host", { "app.ts": entry('import stolen from "@host/package.json";'), "tsconfig.json": JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@host/*": [`${fileURLToPath(new URL("../..", import.meta.url))}/*`] } } }) }, "app.ts"],
      ["a package.json main outside", { "app.ts": entry('import stolen from "./pkg";'), "pkg/package.json": JSON.stringify({ main: `../../../../../../../..${HOST_FILE}` }) }, "app.ts"],
      ["a tsconfig extending a host file", { "app.ts": entry("const stolen = 1;"), "tsconfig.json": JSON.stringify({ extends: fileURLToPath(new URL("../../tsconfig.json", import.meta.url)) }) }, "tsconfig.json"],
      ["a nested tsconfig extending a host file by ../", { "app.ts": entry('import { stolen } from "./lib/s";'), "lib/s.ts": "export const stolen = 1;\n", "lib/tsconfig.json": JSON.stringify({ extends: "../../../../../../../../etc/passwd" }) }, "lib/tsconfig.json"],
      ["a source map comment naming a host file", { "app.ts": `${entry("const stolen = 1;")}//# sourceMappingURL=${HOST_FILE}\n` }, "app.ts"],
    ];
    for (const [label, files, file] of escapes) {
      const name = h.name("ts-escape");
      const r = await h.request("PUT", `/v1/functions/${name}`, { runtime: "typescript", handler: "app.handler", files });
      assert.equal(r.status, 400, `${label}: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
      assert.equal(r.body.error.code, "INVALID_ARGUMENT", label);
      assert.equal(r.body.error.field, `files.${file}`, `${label}: ${JSON.stringify(r.body)}`);
      assert.doesNotMatch(JSON.stringify(r.body), /"name":\s*"weft"/, `${label}: the answer shows the host file`);
      assert.equal((await h.request("GET", `/v1/functions/${name}`)).status, 404, `${label}: the refused function exists`);
    }
  });
});

suite.finally();
