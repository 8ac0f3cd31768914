// MongoDB outages seen by the controller: its API answers UNAVAILABLE quickly, the process keeps running,
// records wait in the stream (unacknowledged) and land once MongoDB is back. Uses a private FerretDB that the
// test stops and restarts; the shared one is never touched.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { freePort, startNats, type NatsServer } from "./harness/nats.js";
import { startPrivateFerretDb, type PrivateMongo } from "./harness/ferretdb.js";
import { startController, type Controller } from "../controller/app.js";
import { loadControllerConfig } from "../controller/config.js";
import { Kvm } from "@nats-io/kv";
import { FUNCTIONS_BUCKET, RECORDS_STREAM, controllerSubject, latestKey, recordSubject, type ControllerOp } from "../shared/subjects.js";
import type { ControllerReply } from "../shared/schemas/controller-api.js";
import { eventually } from "./harness/eventually.js";
import { finalEvent } from "./fixtures/record-events.js";

const JS = `exports.handler = async (event) => event\n`;
const logger = () => pino({ level: process.env.WEFT_TEST_LOG ?? "silent" });

let nats: NatsServer;
let mongo: PrivateMongo;
let nc: NatsConnection;
let controller: Controller;

const start = (natsUrl: string, mongoUrl: string): Promise<Controller> =>
  startController(
    loadControllerConfig({ WEFT_NATS_URL: natsUrl, WEFT_MONGO_URL: mongoUrl, WEFT_MONGO_DB: "weft_outage" }),
    logger(),
  );

async function call<T = any>(conn: NatsConnection, op: ControllerOp, body: unknown): Promise<ControllerReply<T>> {
  return (await conn.request(controllerSubject(op), JSON.stringify(body), { timeout: 15_000 })).json<ControllerReply<T>>();
}



before(async () => {
  nats = await startNats();
  mongo = await startPrivateFerretDb();
  controller = await start(nats.url, mongo.url);
  nc = await connect({ servers: nats.url });
});

after(async () => {
  await controller?.stop();
  await nc?.close();
  await nats?.cleanup();
  await mongo?.cleanup();
});

test("MongoDB stopped: UNAVAILABLE quickly, records held in the stream, all land once it is back", async () => {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const name = `outage-${randomBytes(3).toString("hex")}`;
  const created = await call(nc, "functions.put", { name, spec: { runtime: "nodejs", code: JS } });
  assert.ok(created.ok);
  const incarnation = created.result.incarnation;
  const before = finalEvent(name, { incarnation, output: '{"n":1}' });
  await js.publish(recordSubject(name), JSON.stringify(before));
  await eventually(async () => ((await call(nc, "invocations.get", { invocationId: before.invocationId })).ok ? true : undefined), "first record");

  await mongo.stop();
  const started = Date.now();
  const put = await call(nc, "functions.put", { name, spec: { runtime: "nodejs", code: JS } });
  assert.equal(put.ok, false);
  assert.equal(!put.ok && put.error.code, "UNAVAILABLE");
  assert.ok(Date.now() - started < 5000, `UNAVAILABLE within 5 s, took ${Date.now() - started} ms`);
  for (const [op, body] of [
    ["functions.get", { name }],
    ["functions.list", {}],
    ["functions.delete", { name }],
    ["invocations.get", { invocationId: before.invocationId }],
    ["invocations.list", { name, limit: 5 }],
    ["functions.metrics", { name }],
  ] as const) {
    const reply = await call(nc, op, body);
    assert.equal(!reply.ok && reply.error.code, "UNAVAILABLE", `${op} → ${JSON.stringify(reply)}`);
  }
  assert.deepEqual(await call(nc, "health", {}), { ok: true, result: { mongo: "unavailable" } });

  const during = [1, 2, 3].map(() => finalEvent(name, { incarnation, output: '{"n":1}' }));
  for (const ev of during) await js.publish(recordSubject(name), JSON.stringify(ev));
  const retriesBefore = controller.ingestStats.retries;
  await eventually(async () => (controller.ingestStats.retries > retriesBefore ? true : undefined), "a failed write attempt");
  const held = await jsm.streams.info(RECORDS_STREAM);
  assert.equal(held.state.messages, during.length, "records stay in the stream, unacknowledged");

  await mongo.restart();
  for (const ev of during) {
    const rec = await eventually(async () => {
      const r = await call(nc, "invocations.get", { invocationId: ev.invocationId });
      return r.ok ? r.result : undefined;
    }, `record ${ev.invocationId} after the outage`);
    assert.equal(rec.status, "ok");
    assert.deepEqual(rec.output, { n: 1 });
  }
  assert.equal((await jsm.streams.info(RECORDS_STREAM)).state.messages, 0, "acknowledged once written");
  const again = await call(nc, "functions.put", { name, spec: { runtime: "nodejs", code: JS } });
  assert.ok(again.ok, "CRUD recovers");
  assert.equal(again.ok && again.result.version, 2);
});

test("a controller started while MongoDB is unreachable starts, answers UNAVAILABLE and stops promptly", async () => {
  const ownNats = await startNats();
  const conn = await connect({ servers: ownNats.url });
  const deadPort = await freePort();
  let ctl: Controller | undefined;
  try {
    const t0 = Date.now();
    ctl = await start(ownNats.url, `mongodb://127.0.0.1:${deadPort}`);
    assert.ok(Date.now() - t0 < 10_000, "start does not wait for MongoDB");
    const put = await call(conn, "functions.put", { name: "nomongo", spec: { runtime: "nodejs", code: JS } });
    assert.equal(!put.ok && put.error.code, "UNAVAILABLE");
    assert.deepEqual(await call(conn, "health", {}), { ok: true, result: { mongo: "unavailable" } });
    const bad = await call(conn, "functions.put", { name: "nomongo", spec: { runtime: "cobol", code: JS } });
    assert.equal(!bad.ok && bad.error.field, "runtime", "validation still answers without MongoDB");
    const t1 = Date.now();
    await ctl.stop();
    assert.ok(Date.now() - t1 < 10_000, `stop took ${Date.now() - t1} ms`);
    ctl = undefined;
  } finally {
    await ctl?.stop();
    await conn.close();
    await ownNats.cleanup();
  }
});

test("NATS restarted after losing the bucket and streams: the controller re-declares them and re-mirrors", async () => {
  const ownNats = await startNats();
  const ownMongo = mongo.url;
  let ctl: Controller | undefined;
  let conn: NatsConnection | undefined;
  try {
    ctl = await startController(
      loadControllerConfig({ WEFT_NATS_URL: ownNats.url, WEFT_MONGO_URL: ownMongo, WEFT_MONGO_DB: `weft_outage_${randomBytes(3).toString("hex")}` }),
      logger(),
    );
    conn = await connect({ servers: ownNats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const name = `natsloss-${randomBytes(3).toString("hex")}`;
    const created = await call(conn, "functions.put", { name, spec: { runtime: "nodejs", code: JS } });
    assert.ok(created.ok);

    // What a server that lost its store looks like: no bucket, no streams.
    const jsm = await jetstreamManager(conn);
    await jsm.streams.delete(`KV_${FUNCTIONS_BUCKET}`);
    await jsm.streams.delete(RECORDS_STREAM);
    await ownNats.stop();
    await ownNats.restart();

    const kv = await eventually(async () => {
      try {
        const bucket = await new Kvm(conn!).open(FUNCTIONS_BUCKET);
        return (await bucket.get(latestKey(name)))?.operation === "PUT" ? bucket : undefined;
      } catch {
        return undefined; // not declared again yet
      }
    }, "the bucket re-mirrored after the reconnect");
    assert.equal((await kv.get(latestKey(name)))?.json<{ version: number }>().version, 1);

    const ev = finalEvent(name, { incarnation: created.result.incarnation, output: '{"n":1}' });
    await jetstream(conn).publish(recordSubject(name), JSON.stringify(ev));
    const rec = await eventually(async () => {
      const r = await call(conn!, "invocations.get", { invocationId: ev.invocationId });
      return r.ok ? r.result : undefined;
    }, "a record ingested after the reconnect");
    assert.equal(rec.status, "ok");
  } finally {
    await ctl?.stop();
    await conn?.close();
    await ownNats.cleanup();
  }
});
