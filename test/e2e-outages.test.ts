// Outages: NATS or MongoDB going away must give 503/UNAVAILABLE where needed, never a crash, and lose no record.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { startPrivateFerretDb, type PrivateMongo } from "./harness/ferretdb.js";

let fabric: Fabric;
let mongo: PrivateMongo;

before(async () => {
  mongo = await startPrivateFerretDb();
  fabric = await startFabric({ mongoUrl: mongo.url });
});

after(async () => {
  await fabric?.stop();
  await mongo?.cleanup();
});

const JS = `exports.handler = async (e) => ({ n: e.n })`;

test("MongoDB down: invocations keep working, CRUD answers 503, records land once it is back", async () => {
  const name = `mdown-${randomBytes(3).toString("hex")}`;
  const put = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS });
  assert.equal(put.status, 201);
  await mongo.stop();

  const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 7 });
  assert.equal(res.status, 200, "the hot path does not touch MongoDB");
  assert.deepEqual(res.body.output, { n: 7 });

  const crud = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS });
  assert.equal(crud.status, 503);
  assert.equal(crud.body.error.code, "UNAVAILABLE");

  await mongo.restart();
  const record = await eventually(async () => {
    const r = await http(fabric.httpUrl, "GET", `/v1/invocations/${res.body.invocationId}`);
    return r.status === 200 && r.body.status === "ok" ? r.body : undefined;
  }, "the record written during the outage", 60_000);
  assert.deepEqual(record.output, { n: 7 });
  const client = await new MongoClient(mongo.url).connect();
  try {
    const doc = await client.db(fabric.mongoDb).collection("invocations").findOne({ _id: res.body.invocationId });
    assert.equal(doc?.status, "ok");
  } finally {
    await client.close();
  }
});

test("NATS down: the gateway answers 503 at once and recovers when NATS is back", async () => {
  const name = `ndown-${randomBytes(3).toString("hex")}`;
  assert.equal((await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS })).status, 201);
  assert.equal((await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 1 })).status, 200);

  await fabric.nats.stop();
  const started = Date.now();
  const down = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 2 });
  assert.equal(down.status, 503);
  assert.equal(down.body.error.code, "UNAVAILABLE");
  assert.ok(Date.now() - started < 6000, "503 comes fast, not after the sync wait");
  assert.equal((await http(fabric.httpUrl, "GET", `/healthz`)).status, 503);
  assert.equal((await http(fabric.httpUrl, "GET", `/v1/functions`)).status, 503);

  await fabric.nats.restart();
  const back = await eventually(async () => {
    const r = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 3 });
    return r.status === 200 ? r : undefined;
  }, "invocations after NATS returns", 30_000);
  assert.deepEqual(back.body.output, { n: 3 });
});
