// The controller's function API over NATS, as the gateway calls it, against a real nats-server and a real
// MongoDB wire server: CRUD, versions, validation, and the mirror into the functions bucket.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { startNats, type NatsServer } from "./harness/nats.js";
import { mongoUrl, uniqueDbName } from "./harness/mongo.js";
import { startController, type Controller } from "../controller/app.js";
import { loadControllerConfig } from "../controller/config.js";
import { openFunctionsBucket } from "../shared/nats.js";
import { FUNCTIONS_BUCKET, controllerSubject, latestKey, versionKey, type ControllerOp } from "../shared/subjects.js";
import type { ControllerReply } from "../shared/schemas/controller-api.js";
import type { ErrorBody } from "../shared/errors.js";
import { eventually } from "./harness/eventually.js";

const PY = `def handler(event, context):\n    return {"hello": event["name"]}\n`;
const JS = `exports.handler = async (event) => ({ hello: event.name })\n`;

let nats: NatsServer;
let nc: NatsConnection;
let controller: Controller;
let dbName: string;
let mongo: MongoClient;

const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;
const log = () => pino({ level: process.env.WEFT_TEST_LOG ?? "silent" });
const startOne = () =>
  startController(
    loadControllerConfig({ WEFT_NATS_URL: nats.url, WEFT_MONGO_URL: mongoUrl(), WEFT_MONGO_DB: dbName }),
    log(),
  );

async function call<T = any>(op: ControllerOp, body: unknown): Promise<ControllerReply<T>> {
  const data = typeof body === "string" ? body : JSON.stringify(body);
  const reply = await nc.request(controllerSubject(op), data, { timeout: 10_000 });
  return reply.json<ControllerReply<T>>();
}

async function ok<T = any>(op: ControllerOp, body: unknown): Promise<T> {
  const reply = await call<T>(op, body);
  assert.ok(reply.ok, `${op} ${JSON.stringify(body).slice(0, 200)} → ${JSON.stringify(reply)}`);
  return reply.result;
}

async function fails(op: ControllerOp, body: unknown): Promise<ErrorBody> {
  const reply = await call(op, body);
  assert.equal(reply.ok, false, `${op} should fail: ${JSON.stringify(reply).slice(0, 300)}`);
  return (reply as { ok: false; error: ErrorBody }).error;
}

const bucket = (): Promise<KV> => new Kvm(nc).open(FUNCTIONS_BUCKET);

async function bucketVersion(kv: KV, key: string): Promise<number | undefined> {
  const e = await kv.get(key);
  return e && e.operation === "PUT" ? e.json<{ version: number }>().version : undefined;
}

before(async () => {
  nats = await startNats();
  dbName = uniqueDbName("ctl_fn");
  controller = await startOne();
  nc = await connect({ servers: nats.url });
  mongo = await new MongoClient(mongoUrl()).connect();
});

after(async () => {
  await controller?.stop();
  await nc?.close();
  await mongo?.db(dbName).dropDatabase();
  await mongo?.close();
  await nats?.cleanup();
});

describe("function CRUD and versions", () => {
  test("put v1 and v2, get latest and pinned, list, delete, create again as a new function numbered from 1", async () => {
    const name = uniqueName("crud");
    const v1 = await ok("functions.put", { name, spec: { runtime: "python3", code: PY } });
    assert.equal(v1.created, true);
    assert.equal(v1.name, name);
    assert.equal(v1.version, 1);
    assert.equal(v1.isolation, "runc");
    assert.deepEqual(v1.limits, { timeoutMs: 30000, memoryMb: 256 });
    assert.equal(v1.concurrency, 1);
    assert.equal(v1.minWarm, 0);
    assert.equal(v1.codeSha256, createHash("sha256").update(PY).digest("hex"));
    assert.equal(v1.codeBytes, Buffer.byteLength(PY));
    assert.equal(v1.code, undefined, "put answers a summary without the code");
    assert.match(v1.incarnation, /^[0-9a-f]{16}$/);
    const first = v1.incarnation as string;

    const v2code = `def handler(event, context):\n    return {"v": 2}\n`;
    const v2 = await ok("functions.put", {
      name,
      spec: { runtime: "python3", code: v2code, limits: { timeoutMs: 5000 }, env: { GREETING: "hi" }, isolation: "gvisor" },
    });
    assert.equal(v2.created, false);
    assert.equal(v2.version, 2);
    assert.equal(v2.incarnation, first, "an update keeps the incarnation");
    assert.equal(v2.isolation, "gvisor");

    const latest = await ok("functions.get", { name });
    assert.equal(latest.version, 2);
    assert.equal(latest.code, v2code);
    assert.deepEqual(latest.env, { GREETING: "hi" });
    assert.deepEqual(latest.limits, { timeoutMs: 5000, memoryMb: 256 });
    assert.ok(!Number.isNaN(Date.parse(latest.createdAt)));
    const pinned = await ok("functions.get", { name, version: 1 });
    assert.equal(pinned.version, 1);
    assert.equal(pinned.code, PY);
    assert.equal((await fails("functions.get", { name, version: 3 })).code, "NOT_FOUND");

    const list = await ok<any[]>("functions.list", {});
    const item = list.find((f) => f.name === name);
    assert.ok(item, "listed");
    assert.equal(item.version, 2);
    assert.equal(item.code, undefined);
    assert.equal(item.codeBytes, Buffer.byteLength(v2code));

    const kv = await bucket();
    assert.equal(await bucketVersion(kv, latestKey(name)), 2);
    assert.equal(await bucketVersion(kv, versionKey(name, first, 1)), 1);
    assert.equal((await kv.get(versionKey(name, first, 2)))?.json<{ code: string }>().code, v2code);

    assert.deepEqual(await ok("functions.delete", { name }), { name, deleted: true });
    assert.equal((await fails("functions.get", { name })).code, "NOT_FOUND");
    assert.equal((await fails("functions.get", { name, version: 1 })).code, "NOT_FOUND");
    assert.equal((await fails("functions.delete", { name })).code, "NOT_FOUND");
    assert.ok(!(await ok<any[]>("functions.list", {})).some((f) => f.name === name));
    assert.equal(await bucketVersion(kv, latestKey(name)), undefined, "latest key gone at once");
    await eventually(async () => ((await bucketVersion(kv, versionKey(name, first, 2))) === undefined ? true : undefined), "version keys purged");
    assert.equal(await bucketVersion(kv, versionKey(name, first, 1)), undefined);
    await eventually(
      async () => ((await mongo.db(dbName).collection("function_versions").countDocuments({ name, incarnation: first })) === 0 ? true : undefined),
      "versions (code, env) purged from MongoDB",
    );

    const again = await ok("functions.put", { name, spec: { runtime: "nodejs", code: JS } });
    assert.equal(again.created, true, "a PUT after DELETE creates the function again");
    assert.equal(again.version, 1, "a new function: numbered from 1");
    assert.notEqual(again.incarnation, first, "with an incarnation of its own");
    assert.equal((await ok("functions.get", { name, version: 1 })).code, JS);
    assert.equal((await fails("functions.get", { name, version: 2 })).code, "NOT_FOUND", "the deleted function's version 2 is gone");
    assert.equal(await bucketVersion(kv, latestKey(name)), 1);
    assert.equal((await kv.get(latestKey(name)))?.json<{ incarnation: string }>().incarnation, again.incarnation);
  });

  test("concurrent PUTs get distinct versions and the latest key ends at the highest", async () => {
    const name = uniqueName("race");
    const puts = await Promise.all(
      Array.from({ length: 6 }, (_, i) => ok("functions.put", { name, spec: { runtime: "nodejs", code: `${JS}// ${i}` } })),
    );
    const versions = puts.map((p) => p.version).sort((a, b) => a - b);
    assert.deepEqual(versions, [1, 2, 3, 4, 5, 6]);
    assert.equal(puts.filter((p) => p.created).length, 1, "exactly one PUT created it");
    assert.equal((await ok("functions.get", { name })).version, 6);
    assert.equal(await bucketVersion(await bucket(), latestKey(name)), 6);
  });

  test("unknown function, invocation and version are NOT_FOUND", async () => {
    const name = uniqueName("nope");
    assert.equal((await fails("functions.get", { name })).code, "NOT_FOUND");
    assert.equal((await fails("functions.delete", { name })).code, "NOT_FOUND");
    assert.equal((await fails("functions.metrics", { name })).code, "NOT_FOUND");
    assert.equal((await fails("invocations.list", { name, limit: 5 })).code, "NOT_FOUND");
    assert.equal((await fails("invocations.get", { invocationId: "does-not-exist" })).code, "NOT_FOUND");
  });
});

describe("validation", () => {
  const name = uniqueName("bad");
  const cases: Array<[string, ControllerOp, unknown, string, string]> = [
    ["bad name", "functions.put", { name: "Bad_Name", spec: { runtime: "python3", code: PY } }, "INVALID_ARGUMENT", "name"],
    ["runtime", "functions.put", { name, spec: { runtime: "cobol", code: PY } }, "INVALID_ARGUMENT", "runtime"],
    ["missing code", "functions.put", { name, spec: { runtime: "python3" } }, "INVALID_ARGUMENT", "code"],
    ["empty code", "functions.put", { name, spec: { runtime: "python3", code: "" } }, "INVALID_ARGUMENT", "code"],
    ["timeout", "functions.put", { name, spec: { runtime: "python3", code: PY, limits: { timeoutMs: -1 } } }, "INVALID_ARGUMENT", "limits.timeoutMs"],
    ["memory", "functions.put", { name, spec: { runtime: "python3", code: PY, limits: { memoryMb: 1e9 } } }, "INVALID_ARGUMENT", "limits.memoryMb"],
    ["cpus", "functions.put", { name, spec: { runtime: "python3", code: PY, limits: { cpus: 0 } } }, "INVALID_ARGUMENT", "limits.cpus"],
    ["isolation", "functions.put", { name, spec: { runtime: "python3", code: PY, isolation: "kvm" } }, "INVALID_ARGUMENT", "isolation"],
    ["concurrency", "functions.put", { name, spec: { runtime: "python3", code: PY, concurrency: 0 } }, "INVALID_ARGUMENT", "concurrency"],
    ["minWarm", "functions.put", { name, spec: { runtime: "python3", code: PY, minWarm: 1.5 } }, "INVALID_ARGUMENT", "minWarm"],
    ["unknown field", "functions.put", { name, spec: { runtime: "python3", code: PY, memory: 1 } }, "INVALID_ARGUMENT", "memory"],
    ["unknown limit", "functions.put", { name, spec: { runtime: "python3", code: PY, limits: { disk: 1 } } }, "INVALID_ARGUMENT", "limits.disk"],
    ["env name", "functions.put", { name, spec: { runtime: "python3", code: PY, env: { "1X": "a" } } }, "INVALID_ARGUMENT", "env.1X"],
    ["reserved env", "functions.put", { name, spec: { runtime: "python3", code: PY, env: { WEFT_X: "a" } } }, "INVALID_ARGUMENT", "env"],
    ["name mismatch", "functions.put", { name, spec: { name: "other", runtime: "python3", code: PY } }, "INVALID_ARGUMENT", "name"],
    ["spec not an object", "functions.put", { name, spec: "code" }, "INVALID_ARGUMENT", "body"],
    ["python syntax", "functions.put", { name, spec: { runtime: "python3", code: "def handler(e, c:\n  return 1\n" } }, "INVALID_ARGUMENT", "code"],
    ["node syntax", "functions.put", { name, spec: { runtime: "nodejs", code: "exports.handler = async (e => 1" } }, "INVALID_ARGUMENT", "code"],
    ["code too big", "functions.put", { name, spec: { runtime: "nodejs", code: "x".repeat(4 * 1024 * 1024 + 1) } }, "PAYLOAD_TOO_LARGE", "code"],
    ["version 0", "functions.get", { name, version: 0 }, "INVALID_ARGUMENT", "version"],
    ["limit 0", "invocations.list", { name, limit: 0 }, "INVALID_ARGUMENT", "limit"],
    ["limit text", "invocations.list", { name, limit: "zero" }, "INVALID_ARGUMENT", "limit"],
    ["window", "functions.metrics", { name, windowMs: 5 }, "INVALID_ARGUMENT", "windowMs"],
    ["no id", "invocations.get", {}, "INVALID_ARGUMENT", "invocationId"],
    ["not JSON", "functions.get", "{nope", "INVALID_ARGUMENT", "body"],
  ];
  for (const [what, op, body, code, field] of cases) {
    test(`${what} → ${code} naming ${field}`, async () => {
      const error = await fails(op, body);
      assert.equal(error.code, code, JSON.stringify(error));
      assert.equal(error.field, field, JSON.stringify(error));
      assert.ok(error.message.length > 0);
    });
  }

  test("a syntax error names the line", async () => {
    const error = await fails("functions.put", {
      name,
      spec: { runtime: "python3", code: "def handler(event, context):\n    return {\n" },
    });
    assert.match(error.message, /line \d+/);
    assert.equal((await fails("functions.get", { name })).code, "NOT_FOUND", "nothing was stored");
  });

  test("an ES module and a top-level return are accepted for nodejs", async () => {
    const esm = await ok("functions.put", { name: uniqueName("esm"), spec: { runtime: "nodejs", code: "export const handler = async () => 1;" } });
    assert.equal(esm.version, 1);
    const cjs = await ok("functions.put", { name: uniqueName("cjs"), spec: { runtime: "nodejs", code: "exports.handler = () => 1;\nreturn;" } });
    assert.equal(cjs.version, 1);
  });
});

describe("function bucket mirror", () => {
  test("reconcile restores a wiped bucket from MongoDB and removes what MongoDB does not hold", async () => {
    const a = uniqueName("mirror-a");
    const b = uniqueName("mirror-b");
    await ok("functions.put", { name: a, spec: { runtime: "nodejs", code: JS } });
    await ok("functions.put", { name: a, spec: { runtime: "nodejs", code: `${JS}//2` } });
    await ok("functions.put", { name: b, spec: { runtime: "python3", code: PY } });
    await ok("functions.delete", { name: b });

    await (await bucket()).destroy();
    const kv = await openFunctionsBucket(nc);
    const ghost = uniqueName("ghost");
    await kv.put(latestKey(ghost), JSON.stringify({ name: ghost, version: 1 }));
    // Left behind by a DELETE whose purge did not finish, and a key of the shape from before incarnations.
    const leftover = versionKey(b, "0123456789abcdef", 1);
    await kv.put(leftover, JSON.stringify({ name: b, version: 1 }));
    await kv.put(`${ghost}.v1`, JSON.stringify({ name: ghost, version: 1 }));

    const report = await controller.reconcile();
    assert.ok(report.versionsWritten >= 2, JSON.stringify(report));
    assert.ok(report.latestRemoved >= 1, JSON.stringify(report));
    assert.ok(report.versionsRemoved >= 2, JSON.stringify(report));
    assert.equal(await bucketVersion(kv, leftover), undefined, "a deleted incarnation's version key is purged");
    assert.equal(await bucketVersion(kv, `${ghost}.v1`), undefined);
    assert.equal(await bucketVersion(kv, latestKey(a)), 2);
    const inc = (await ok("functions.get", { name: a })).incarnation as string;
    assert.equal(await bucketVersion(kv, versionKey(a, inc, 1)), 1);
    assert.equal((await kv.get(versionKey(a, inc, 2)))?.json<{ code: string }>().code, `${JS}//2`);
    assert.equal(await bucketVersion(kv, latestKey(b)), undefined, "a deleted function stays unpublished");
    assert.equal(await bucketVersion(kv, latestKey(ghost)), undefined, "a latest key MongoDB does not know is removed");

    const again = await controller.reconcile();
    assert.deepEqual(again, { versionsWritten: 0, latestWritten: 0, latestRemoved: 0, versionsRemoved: 0 }, "a second pass finds nothing to do");
  });

  test("a stale latest key is moved to MongoDB's latest version", async () => {
    const name = uniqueName("stale");
    await ok("functions.put", { name, spec: { runtime: "nodejs", code: JS } });
    const v2 = await ok("functions.put", { name, spec: { runtime: "nodejs", code: `${JS}//v2` } });
    const kv = await bucket();
    const v1 = await kv.get(versionKey(name, v2.incarnation, 1));
    await kv.put(latestKey(name), v1!.value);
    assert.equal(await bucketVersion(kv, latestKey(name)), 1);
    await controller.reconcile();
    assert.equal(await bucketVersion(kv, latestKey(name)), v2.version);
  });

  test("a restarted controller reconciles before it reports started", async () => {
    const name = uniqueName("restart");
    await ok("functions.put", { name, spec: { runtime: "nodejs", code: JS } });
    await controller.stop();
    await (await bucket()).destroy();
    controller = await startOne();
    const kv = await bucket();
    assert.equal(await bucketVersion(kv, latestKey(name)), 1);
    const { incarnation } = await ok("functions.get", { name });
    assert.equal(await bucketVersion(kv, versionKey(name, incarnation, 1)), 1);
    assert.equal((await ok("functions.get", { name })).version, 1, "and serves the API again");
  });

  test("a database from before incarnations keeps working: live functions are adopted, deleted ones purged", async () => {
    const ownNats = await startNats();
    const db = uniqueDbName("ctl_legacy");
    const now = new Date();
    const legacyVersion = (name: string, version: number, code: string) => ({
      _id: `${name}.v${version}`, name, version, runtime: "nodejs", code, limits: { timeoutMs: 30000, memoryMb: 256 }, isolation: "runc",
      env: { A: "1" }, concurrency: 1, minWarm: 0, codeSha256: createHash("sha256").update(code).digest("hex"), codeBytes: code.length, createdAt: now,
    });
    const live = uniqueName("old-live");
    const gone = uniqueName("old-gone");
    await mongo.db(db).collection("function_versions").createIndex({ name: 1, version: 1 }, { unique: true });
    await mongo.db(db).collection<any>("function_versions").insertMany([legacyVersion(live, 1, JS), legacyVersion(live, 2, `${JS}//2`), legacyVersion(gone, 1, JS)]);
    await mongo.db(db).collection<any>("functions").insertMany([
      { _id: live, versionSeq: 2, latestVersion: 2, deleted: false, createdAt: now },
      { _id: gone, versionSeq: 1, latestVersion: 1, deleted: true, createdAt: now, deletedAt: now },
    ]);
    const ctl = await startController(loadControllerConfig({ WEFT_NATS_URL: ownNats.url, WEFT_MONGO_URL: mongoUrl(), WEFT_MONGO_DB: db }), log());
    const conn = await connect({ servers: ownNats.url });
    const ask = async (op: ControllerOp, body: unknown) =>
      (await conn.request(controllerSubject(op), JSON.stringify(body), { timeout: 10_000 })).json<ControllerReply<any>>();
    try {
      const latest = await ask("functions.get", { name: live });
      assert.ok(latest.ok, JSON.stringify(latest));
      assert.equal(latest.result.version, 2);
      assert.match(latest.result.incarnation, /^[0-9a-f]{16}$/);
      const v1 = await ask("functions.get", { name: live, version: 1 });
      assert.ok(v1.ok);
      assert.equal(v1.result.code, JS);
      const kv = await new Kvm(conn).open(FUNCTIONS_BUCKET);
      assert.equal((await kv.get(latestKey(live)))?.json<{ incarnation: string }>().incarnation, latest.result.incarnation, "mirrored with it");
      const next = await ask("functions.put", { name: live, spec: { runtime: "nodejs", code: JS } });
      assert.ok(next.ok && next.result.version === 3 && next.result.incarnation === latest.result.incarnation && !next.result.created, JSON.stringify(next));

      assert.equal(await mongo.db(db).collection("function_versions").countDocuments({ name: gone }), 0, "a deleted function's old versions are purged");
      const reborn = await ask("functions.put", { name: gone, spec: { runtime: "nodejs", code: JS } });
      assert.ok(reborn.ok && reborn.result.version === 1 && reborn.result.created, "its name makes a new function, numbered from 1");
    } finally {
      await ctl.stop();
      await conn.close();
      await ownNats.cleanup();
      await mongo.db(db).dropDatabase();
    }
  });

  test("health reports MongoDB reachable", async () => {
    assert.deepEqual(await ok("health", {}), { mongo: "ok" });
  });
});
