// Dead letters through the clients: the CLI (weft dead-letter ls | get | redrive | purge) as users run it, and gRPC
// weft.v1.DeadLetterService, on the real fabric. The HTTP routes themselves are covered by test/async.test.ts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { loadWeftProto } from "./bench/grpc-client.js";

let fabric: Fabric;
before(async () => {
  fabric = await startFabric();
});
after(async () => {
  await fabric?.stop();
});

const api = (method: string, path: string, body?: unknown) => http(fabric.httpUrl, method, path, body);
const uid = () => randomBytes(3).toString("hex");
const FAILING = "def handler(event, context):\n    raise ValueError('no %s' % event['n'])\n";
const FIXED = "def handler(event, context):\n    return {'fixed': event['n']}\n";

const bin = new URL("../clients/cli/bin/weft.js", import.meta.url).pathname;
function weft(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, WEFT_URL: fabric.httpUrl }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A function whose async calls all fail, with `n` dead letters once they have. */
async function failed(n: number): Promise<{ fn: string; ids: string[] }> {
  const fn = `dl-${uid()}`;
  assert.equal((await api("PUT", `/v1/functions/${fn}`, { runtime: "python3", code: FAILING, async: { maxRetries: 0 } })).status, 201);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await api("POST", `/v1/functions/${fn}/invoke?async=true`, { n: i })).body.invocationId);
  await eventually(async () => ((await api("GET", `/v1/functions/${fn}/dead-letters`)).body.deadLetters?.length === n ? true : undefined), `${n} dead letters`, 60_000);
  return { fn, ids };
}

test("weft dead-letter ls | get | redrive | purge, as users run it", async () => {
  const { fn, ids } = await failed(3);
  const ls = await weft(["dead-letter", "ls", fn]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /ID\s+REASON\s+STATUS\s+ERROR\s+ATTEMPTS\s+VERSION\s+DEAD AT/);
  for (const id of ids) assert.match(ls.stdout, new RegExp(`${id}\\s+failed\\s+error\\s+HANDLER_ERROR\\s+1\\s+1`));
  const paged = JSON.parse((await weft(["dead-letters", "ls", fn, "--limit", "2", "--json"])).stdout);
  assert.equal(paged.deadLetters.length, 2);
  assert.equal(typeof paged.next, "number");
  const rest = JSON.parse((await weft(["dead-letter", "ls", fn, "--after", String(paged.next), "--json"])).stdout);
  assert.deepEqual([...paged.deadLetters, ...rest.deadLetters].map((d: { id: string }) => d.id).sort(), [...ids].sort(), "the two pages hold all three");

  const got = await weft(["dead-letter", "get", fn, ids[0]!]);
  assert.equal(got.code, 0, got.stderr);
  assert.match(got.stdout, /reason:\s+failed/);
  assert.match(got.stdout, /error:\s+HANDLER_ERROR: .*no 0/);
  assert.match(got.stdout, /event:\s+\{"n":0\}/);

  assert.equal((await api("PUT", `/v1/functions/${fn}`, { runtime: "python3", code: FIXED, async: { maxRetries: 0 } })).status, 200);
  const one = await weft(["dead-letter", "redrive", fn, ids[0]!]);
  assert.equal(one.code, 0, one.stderr);
  const newId = new RegExp(`re-drove ${ids[0]} as invocation (\\S+)`).exec(one.stdout)?.[1];
  assert.ok(newId, one.stdout);
  const rec = await eventually(async () => {
    const r = await api("GET", `/v1/invocations/${newId}`);
    return r.body.status === "ok" ? r.body : undefined;
  }, "the re-driven invocation ran", 60_000);
  assert.deepEqual(rec.output, { fixed: 0 });

  const usage = await weft(["dead-letter", "redrive", fn]);
  assert.equal(usage.code, 2, "neither an ID nor --all: a usage error");
  const missing = await weft(["dead-letter", "get", fn, "no-such-id"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /NOT_FOUND/);

  const purge = await weft(["dead-letter", "purge", fn]);
  assert.equal(purge.code, 0, purge.stderr);
  assert.match(purge.stdout, new RegExp(`purged 2 dead letters of ${fn}`));
  const empty = await weft(["dead-letter", "ls", fn]);
  assert.equal(empty.code, 0);
  assert.match(empty.stderr, /no dead letters/, "the note goes to stderr, as every empty table's");
});

test("gRPC DeadLetterService: list, get, redrive one and all, purge; bad input names its field", async () => {
  const { fn, ids } = await failed(3);
  const client = new (loadWeftProto().DeadLetterService)(fabric.grpcAddress, credentials.createInsecure());
  const call = (method: string, req: unknown) =>
    new Promise<{ err: ServiceError | null; res: any }>((resolve) => client[method](req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
  try {
    const list = await call("ListDeadLetters", { name: fn });
    assert.equal(list.err, null, list.err?.message);
    assert.deepEqual(list.res.deadLetters.map((d: { id: string }) => d.id).sort(), [...ids].sort());
    const first = list.res.deadLetters.find((d: { id: string }) => d.id === ids[0]);
    assert.equal(first.reason, "failed");
    assert.equal(first.error.code, "HANDLER_ERROR");
    assert.deepEqual(first.event, { structValue: { fields: { n: { numberValue: 0, kind: "numberValue" } } }, kind: "structValue" });
    const page = await call("ListDeadLetters", { name: fn, limit: 1 });
    assert.equal(page.res.deadLetters.length, 1);
    assert.equal(page.res.next, list.res.deadLetters[0].seq);

    const one = await call("GetDeadLetter", { name: fn, id: ids[1] });
    assert.equal(one.err, null, one.err?.message);
    assert.equal(one.res.id, ids[1]);
    assert.equal(one.res.attempts.length, 1);
    const missing = await call("GetDeadLetter", { name: fn, id: "nope" });
    assert.equal(missing.err?.metadata.get("weft-error-code")[0], "NOT_FOUND");

    for (const [req, field] of [[{ name: "Bad Name", all: true }, "name"], [{ name: fn }, "id"], [{ name: fn, id: ids[0], all: true }, "id"]] as const) {
      const bad = await call("RedriveDeadLetters", req);
      assert.equal(bad.err?.metadata.get("weft-error-code")[0], "INVALID_ARGUMENT", JSON.stringify(req));
      assert.equal(bad.err?.metadata.get("weft-error-field")[0], field, JSON.stringify(req));
    }
    const badList = await call("ListDeadLetters", { name: fn, limit: 5000 });
    assert.equal(badList.err?.metadata.get("weft-error-field")[0], "limit");

    // Fixed: re-driven events run and stay out of the dead letters.
    assert.equal((await api("PUT", `/v1/functions/${fn}`, { runtime: "python3", code: FIXED, async: { maxRetries: 0 } })).status, 200);
    const single = await call("RedriveDeadLetters", { name: fn, id: ids[0] });
    assert.equal(single.err, null, single.err?.message);
    assert.equal(single.res.redriven[0].id, ids[0]);
    assert.ok(single.res.redriven[0].invocationId);
    const all = await call("RedriveDeadLetters", { name: fn, all: true });
    assert.deepEqual(all.res.redriven.map((r: { id: string }) => r.id).sort(), [ids[1]!, ids[2]!].sort());
    assert.deepEqual((await call("ListDeadLetters", { name: fn })).res.deadLetters, []);

    const other = await failed(2);
    const purged = await call("PurgeDeadLetters", { name: other.fn });
    assert.equal(purged.err, null, purged.err?.message);
    assert.equal(purged.res.purged, 2);
    assert.deepEqual((await call("ListDeadLetters", { name: other.fn })).res.deadLetters, []);
    assert.equal((await call("PurgeDeadLetters", { name: "Bad Name" })).err?.metadata.get("weft-error-field")[0], "name");
  } finally {
    client.close();
  }
});
