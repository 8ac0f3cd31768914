// Idempotency keys on the real fabric: HTTP Idempotency-Key, gRPC idempotency_key, NATS Nats-Msg-Id. A key reused by
// a client retry, by concurrent calls, and after the gateway restarted answers the first invocation, and the handler
// ran once: every final record any agent published is tapped, so a second run could not hide.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { eventually, http, startFabric, testLogger, type Fabric } from "./harness/fabric.js";
import { RecordTap } from "./harness/record-tap.js";
import { loadWeftProto, toProtoValue } from "./bench/grpc-client.js";
import { invokeSubject } from "../shared/subjects.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { startGateway } from "../gateway/app.js";

let fabric: Fabric;
let nc: NatsConnection;
let tap: RecordTap;
let name: string;

before(async () => {
  fabric = await startFabric();
  nc = await connect({ servers: fabric.nats.url });
  tap = await RecordTap.start(fabric.nats.url);
  name = `idem-${randomBytes(3).toString("hex")}`;
  const code = "def handler(event, context):\n    return {'id': context.invocation_id, 'echo': event}\n";
  assert.equal((await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code })).status, 201);
});

after(async () => {
  await tap?.stop();
  await nc?.close();
  await fabric?.stop();
});

async function invoke(base: string, key: string, event: unknown, async = false): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/v1/functions/${name}/invoke${async ? "?async=true" : ""}`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(event),
  });
  return { status: res.status, body: await res.json() };
}

/** Final records published for this function: one per handler run (a second run of one id is a second record). */
const runsOf = (ids: string[]) => ids.reduce((n, id) => n + tap.finalsOf(id).length, 0);

test("a client retry with the same key gets the same invocation and its stored result; the handler ran once", async () => {
  const key = `order-${randomBytes(4).toString("hex")}`;
  const first = await invoke(fabric.httpUrl, key, { n: 1 });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.output.id, first.body.invocationId);

  const retry = await invoke(fabric.httpUrl, key, { n: 1 });
  assert.equal(retry.status, 200);
  assert.equal(retry.body.invocationId, first.body.invocationId);
  assert.deepEqual(retry.body.output, first.body.output, "the stored result");
  assert.equal(retry.body.status, "ok");

  const asAsync = await invoke(fabric.httpUrl, key, { n: 1 }, true);
  assert.equal(asAsync.status, 202);
  assert.equal(asAsync.body.invocationId, first.body.invocationId);

  const other = await invoke(fabric.httpUrl, key, { n: 2 });
  assert.equal(other.status, 409);
  assert.equal(other.body.error.code, "IDEMPOTENCY_MISMATCH");

  await tap.firstFinal(first.body.invocationId, 10_000);
  assert.equal(runsOf([first.body.invocationId]), 1);
});

test("concurrent calls with one key make one invocation; an async key's retry before it ran answers the same id", async () => {
  const key = `burst-${randomBytes(4).toString("hex")}`;
  const calls = await Promise.all(Array.from({ length: 6 }, (_, i) => invoke(fabric.httpUrl, key, { burst: true }, i % 2 === 0)));
  const ids = new Set(calls.map((c) => c.body.invocationId));
  assert.equal(ids.size, 1, JSON.stringify(calls.map((c) => c.body)));
  const [id] = [...ids] as [string];
  for (const c of calls.filter((c) => c.status === 200)) assert.equal(c.body.output.id, id);
  await tap.firstFinal(id, 10_000);
  // Everything the agents published has had time to arrive once a later call's final is in.
  const marker = await invoke(fabric.httpUrl, `m-${key}`, {});
  await tap.firstFinal(marker.body.invocationId, 10_000);
  assert.equal(runsOf([id]), 1);
});

test("a key reused after the gateway restarted answers the first invocation (the claim lives in NATS KV, not the gateway)", async () => {
  const key = `restart-${randomBytes(4).toString("hex")}`;
  const queued = await invoke(fabric.httpUrl, key, { r: 1 }, true);
  assert.equal(queued.status, 202);
  await fabric.gateway.stop();
  const gateway = await startGateway(
    loadGatewayConfig({ WEFT_NATS_URL: fabric.nats.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0" }),
    testLogger("gateway-2"),
  );
  fabric.gateway = gateway;
  fabric.httpUrl = `http://127.0.0.1:${gateway.httpPort}`;
  fabric.grpcAddress = `127.0.0.1:${gateway.grpcPort}`;

  const again = await invoke(fabric.httpUrl, key, { r: 1 });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.body.invocationId, queued.body.invocationId);
  assert.equal(again.body.output.id, queued.body.invocationId, "the stored result of the first call");
  assert.equal(runsOf([queued.body.invocationId]), 1);
});

test("gRPC idempotency_key and the NATS Nats-Msg-Id header are the same keys", async () => {
  const client = new (loadWeftProto().InvocationService)(fabric.grpcAddress, credentials.createInsecure());
  const call = (req: unknown) =>
    new Promise<{ err: ServiceError | null; res: any }>((resolve) => client.Invoke(req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
  try {
    const key = `grpc-${randomBytes(4).toString("hex")}`;
    const a = await call({ name, event: toProtoValue({ g: 1 }), idempotencyKey: key });
    assert.equal(a.err, null);
    const b = await call({ name, event: toProtoValue({ g: 1 }), idempotencyKey: key });
    assert.equal(b.res.invocationId, a.res.invocationId);
    const c = await call({ name, event: toProtoValue({ g: 2 }), idempotencyKey: key });
    assert.equal(c.err?.metadata.get("weft-error-code")[0], "IDEMPOTENCY_MISMATCH");

    // NATS: the HTTP call's key, sent as Nats-Msg-Id, is the same key.
    const h = headers();
    h.set("Nats-Msg-Id", key);
    const viaNats = (await nc.request(invokeSubject(name), JSON.stringify({ g: 1 }), { headers: h, timeout: 20_000 })).json<any>();
    assert.equal(viaNats.invocationId, a.res.invocationId);
    const viaHttp = await invoke(fabric.httpUrl, key, { g: 1 });
    assert.equal(viaHttp.body.invocationId, a.res.invocationId);
    await eventually(async () => (tap.finalsOf(a.res.invocationId).length ? true : undefined), "the final record");
    assert.equal(runsOf([a.res.invocationId]), 1);
  } finally {
    client.close();
  }
});

test("a bad key is a 400 naming the header", async () => {
  const res = await invoke(fabric.httpUrl, "x".repeat(256), {});
  assert.equal(res.status, 400);
  assert.equal(res.body.error.field, "Idempotency-Key");
});
