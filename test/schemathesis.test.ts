// Schemathesis (property-based API testing, pinned and installed by deploy/services.sh --for-tests into a venv under
// .weft/) against the real fabric with GET /openapi.json: it generates valid and invalid requests for every operation
// and checks every answer. No server error, and no response that breaks the document.
//
// positive_data_acceptance is left out: it expects every schema-valid request to succeed, and two rules are no JSON
// Schema's to state (code must parse; a spec's optional name must equal the path's). Every other check runs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFabric, type Fabric } from "./harness/fabric.js";

/** Test cases per operation and phase: enough to reach every status, small enough for about a minute on 2 cores. */
const MAX_EXAMPLES = Number(process.env.WEFT_SCHEMATHESIS_EXAMPLES ?? 25);
/** Fixed, so a failure reproduces; set WEFT_SCHEMATHESIS_SEED to explore other cases. */
const SEED = process.env.WEFT_SCHEMATHESIS_SEED ?? "20261201";
/** Streams, not request/response: one never ends, so test/console/api.test.ts tests it instead. */
const STREAMS = ["followInvocations"];

/** Drops the cases that would open a never-ending stream on an operation that also answers (test/fixtures/schemathesis_hooks.py). */
const HOOKS = { SCHEMATHESIS_HOOKS: "schemathesis_hooks", PYTHONPATH: fileURLToPath(new URL("./fixtures", import.meta.url)) };

let fabric: Fabric;

before(async () => {
  // Generated specs can ask for minWarm up to 100: a small memory budget bounds what the agent pre-warms.
  fabric = await startFabric({ agentEnv: { WEFT_AGENT_MEMORY_MB: "1024", WEFT_STEM_ISOLATIONS: "runc" } });
});

after(async () => {
  await fabric?.stop();
});

function schemathesisBin(): string {
  const bin = process.env.WEFT_SCHEMATHESIS_BIN;
  assert.ok(bin, "WEFT_SCHEMATHESIS_BIN is not set: run the tests through npm test (deploy/services.sh --for-tests installs schemathesis)");
  return bin;
}

test("schemathesis: no server error, no response that breaks the OpenAPI document", { timeout: 300_000 }, async () => {
  const args = [
    "run", `${fabric.httpUrl}/openapi.json`,
    "--checks", "all",
    "--exclude-checks", "positive_data_acceptance",
    "--max-examples", String(MAX_EXAMPLES),
    "--seed", SEED,
    "--workers", "2",
    "--request-timeout", "70",
    "--no-color",
    ...STREAMS.flatMap((id) => ["--exclude-operation-id", id]),
  ];
  // In a directory of its own: schemathesis keeps its example database in the working directory.
  const cwd = await mkdtemp(join(tmpdir(), "weft-schemathesis-"));
  const child = spawn(schemathesisBin(), args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", ...HOOKS } });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  await rm(cwd, { recursive: true, force: true });
  const generated = Number(/(\d+) generated/.exec(output)?.[1] ?? 0);
  assert.equal(code, 0, `schemathesis found problems:\n${output.slice(-12_000)}`);
  const operations = Object.keys(((await (await fetch(`${fabric.httpUrl}/openapi.json`)).json()) as { paths: object }).paths).length;
  const selected = /Selected: (\d+)\/(\d+)/.exec(output);
  assert.equal(Number(selected?.[2]) - Number(selected?.[1]), STREAMS.length, "every operation but the streams was selected");
  assert.ok(generated >= operations * 10, `only ${generated} test cases were generated:\n${output.slice(-4000)}`);
  process.stdout.write(`# schemathesis: ${generated} test cases, 0 failures (seed ${SEED})\n`);
});
