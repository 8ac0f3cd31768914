// Deleted means deleted, on the real fabric: a function created again under a deleted name is a new function.
// Nothing of the deleted one (versions, code, env, records, warm containers, queued jobs) is reachable through
// HTTP, gRPC or NATS, and a job parked inside the agent when its function is deleted never starts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import Dockerode from "dockerode";
import { connect, createInbox, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { eventually, startFabric, type Fabric } from "./harness/fabric.js";
import { until } from "./harness/eventually.js";
import { loadWeftProto, toProtoValue } from "./bench/grpc-client.js";
import { HEADERS } from "../shared/headers.js";
import { controllerSubject, invokeSubject, jobSubject } from "../shared/subjects.js";
import { LABELS } from "../agents/docker-driver.js";

const SECRET = `s3cret-${randomBytes(8).toString("hex")}`;
const oldCode = (v: number) =>
  `import os\ndef handler(event, context):\n    return {"gen": "old", "v": ${v}, "secret": os.environ["SECRET"]}\n`;
const NEW_CODE = `import os\ndef handler(event, context):\n    return {"gen": "new", "secret": os.environ.get("SECRET")}\n`;

const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

let fabric: Fabric;
let nc: NatsConnection;
let functions: any;
let invocations: any;
const docker = new Dockerode();

/** Every HTTP, gRPC and NATS answer received after the DELETE, as text: none may carry the secret. */
const afterDelete: string[] = [];
let recording = false;

async function http(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(fabric.httpUrl + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (recording) afterDelete.push(text);
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function grpc(client: any, method: string, req: unknown): Promise<{ err: ServiceError | null; res: any }> {
  return new Promise((resolve) =>
    client[method](req, new Metadata(), (err: ServiceError | null, res: any) => {
      if (recording) afterDelete.push(JSON.stringify(res ?? null), err?.message ?? "");
      resolve({ err, res });
    }),
  );
}

async function natsRequest(subject: string, data: string, h = headers()): Promise<{ text: string; errorCode: string | undefined }> {
  const reply = await nc.request(subject, data, { timeout: 30_000, headers: h });
  const text = reply.string();
  if (recording) afterDelete.push(text);
  return { text, errorCode: reply.headers?.get(HEADERS.errorCode) || undefined };
}

async function finalRecord(invocationId: string): Promise<any> {
  return eventually(async () => {
    const r = await http("GET", `/v1/invocations/${invocationId}`);
    return r.status === 200 && r.body.status !== "queued" && r.body.status !== "running" ? r.body : undefined;
  }, `final record of ${invocationId}`);
}

const containersOf = (fn: string) =>
  docker.listContainers({ all: true, filters: { label: [`${LABELS.agent}=${fabric.agent.agentId}`, `${LABELS.fn}=${fn}`] } });

before(async () => {
  fabric = await startFabric({ agentEnv: { WEFT_STEM_ISOLATIONS: "runc" } });
  nc = await connect({ servers: fabric.nats.url });
  const weft = loadWeftProto();
  functions = new weft.FunctionService(fabric.grpcAddress, credentials.createInsecure());
  invocations = new weft.InvocationService(fabric.grpcAddress, credentials.createInsecure());
});

after(async () => {
  functions?.close();
  invocations?.close();
  await nc?.close();
  await fabric?.stop();
});

describe("a function deleted and created again under its name", () => {
  const name = uniqueName("reborn");
  let oldIncarnation: string;
  let newIncarnation: string;
  /** Invocations of the deleted function, one per way in: their records must all answer 404 now. */
  const oldIds: string[] = [];

  before(async () => {
    const v1 = await http("PUT", `/v1/functions/${name}`, { runtime: "python3", code: oldCode(1), env: { SECRET } });
    assert.equal(v1.status, 201);
    oldIncarnation = v1.body.incarnation;
    assert.equal((await http("PUT", `/v1/functions/${name}`, { runtime: "python3", code: oldCode(2), env: { SECRET } })).body.version, 2);

    const sync = await http("POST", `/v1/functions/${name}/invoke`, {});
    assert.equal(sync.body.output.secret, SECRET, "the first function does hand out its secret");
    const pinned = await http("POST", `/v1/functions/${name}/invoke?version=1`, {});
    assert.equal(pinned.body.output.v, 1);
    const queued = await http("POST", `/v1/functions/${name}/invoke?async=true`, { later: true });
    const viaGrpc = await grpc(invocations, "Invoke", { name, event: toProtoValue({}) });
    assert.equal(viaGrpc.err, null);
    const viaNats = JSON.parse((await natsRequest(invokeSubject(name), "{}")).text);
    assert.equal(viaNats.output.secret, SECRET);
    oldIds.push(sync.body.invocationId, pinned.body.invocationId, queued.body.invocationId, viaGrpc.res.invocationId, viaNats.invocationId);
    for (const id of oldIds) assert.equal((await finalRecord(id)).status, "ok", `old record ${id} is readable before the DELETE`);

    recording = true;
    assert.equal((await http("DELETE", `/v1/functions/${name}`)).status, 200);
    assert.equal((await http("GET", `/v1/invocations/${oldIds[0]}`)).status, 404, "records go with the DELETE, before the name is used again");
    assert.equal((await http("GET", `/v1/functions/${name}/invocations`)).status, 404);
    assert.equal((await http("GET", `/v1/functions/${name}/metrics`)).status, 404);

    const again = await http("PUT", `/v1/functions/${name}`, { runtime: "python3", code: NEW_CODE, env: { OTHER: "x" } });
    assert.equal(again.status, 201, "a PUT after DELETE creates a new function");
    assert.equal(again.body.version, 1, "numbered from 1 again");
    newIncarnation = again.body.incarnation;
    assert.notEqual(newIncarnation, oldIncarnation);
  });

  test("HTTP: the old versions, code, env and records are 404; version 1 is the new function's", async () => {
    const latest = await http("GET", `/v1/functions/${name}`);
    assert.equal(latest.body.version, 1);
    assert.equal(latest.body.code, NEW_CODE);
    assert.deepEqual(latest.body.env, { OTHER: "x" });
    assert.equal(latest.body.incarnation, newIncarnation);
    assert.equal((await http("GET", `/v1/functions/${name}?version=1`)).body.code, NEW_CODE);
    assert.equal((await http("GET", `/v1/functions/${name}?version=2`)).status, 404);
    assert.equal((await http("POST", `/v1/functions/${name}/invoke?version=2`, {})).status, 404);

    const newIds: string[] = [];
    for (const query of ["", "?version=1"]) {
      const res = await http("POST", `/v1/functions/${name}/invoke${query}`, {});
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.output, { gen: "new", secret: null }, `invoke${query}: the new code, without the old env`);
      assert.equal(res.body.version, 1);
      newIds.push(res.body.invocationId);
    }
    for (const id of oldIds) assert.equal((await http("GET", `/v1/invocations/${id}`)).status, 404, `old invocation ${id}`);
    const listed = await eventually(async () => {
      const list = await http("GET", `/v1/functions/${name}/invocations?limit=100`);
      const ids = (list.body.invocations ?? list.body).map((r: { invocationId: string }) => r.invocationId);
      return newIds.every((id) => ids.includes(id)) ? ids : undefined;
    }, "the new function's records listed");
    for (const id of oldIds) assert.ok(!listed.includes(id), `old invocation ${id} is not listed`);
    const metrics = await eventually(async () => {
      const m = await http("GET", `/v1/functions/${name}/metrics`);
      return m.body.count >= newIds.length ? m.body : undefined;
    }, "metrics of the new function");
    assert.equal(metrics.count, newIds.length, "metrics count only the new function's invocations");
  });

  test("gRPC: the old version and records are NOT_FOUND", async () => {
    assert.equal((await grpc(functions, "GetFunction", { name, version: 2 })).err?.code, GrpcStatus.NOT_FOUND);
    const got = await grpc(functions, "GetFunction", { name });
    assert.equal(got.res.incarnation, newIncarnation);
    assert.equal(got.res.code, NEW_CODE);
    assert.equal((await grpc(invocations, "Invoke", { name, version: 2, event: toProtoValue({}) })).err?.code, GrpcStatus.NOT_FOUND);
    const res = await grpc(invocations, "Invoke", { name, event: toProtoValue({}) });
    assert.equal(res.res.output.structValue.fields.gen.stringValue, "new");
    for (const id of oldIds) {
      assert.equal((await grpc(invocations, "GetInvocation", { invocationId: id })).err?.code, GrpcStatus.NOT_FOUND, `old invocation ${id}`);
    }
    const list = await grpc(invocations, "ListInvocations", { name, limit: 100 });
    assert.equal(list.err, null);
    for (const r of list.res.invocations) assert.ok(!oldIds.includes(r.invocationId), `old invocation ${r.invocationId} listed`);
  });

  test("NATS: the old version is NOT_FOUND, and a job of the deleted function still queued never runs", async () => {
    const pin = headers();
    pin.set(HEADERS.version, "2");
    assert.equal((await natsRequest(invokeSubject(name), "{}", pin)).errorCode, "NOT_FOUND");
    assert.equal(JSON.parse((await natsRequest(invokeSubject(name), "{}")).text).output.gen, "new");

    // What a job published before the DELETE and redelivered now looks like: the old incarnation's version 1.
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, { max: 1 });
    const h = headers();
    const id = randomUUID();
    h.set(HEADERS.invocationId, id);
    h.set(HEADERS.enqueuedAt, String(Date.now()));
    h.set(HEADERS.version, "1");
    h.set(HEADERS.incarnation, oldIncarnation);
    h.set(HEADERS.replyTo, inbox);
    await jetstream(nc).publish(jobSubject(name), "{}", { headers: h, msgID: id });
    let result: any;
    for await (const m of sub) {
      afterDelete.push(m.string());
      result = m.json();
    }
    assert.equal(result.status, "error");
    assert.equal(result.error.code, "FUNCTION_DELETED", JSON.stringify(result));

    const ctl = async (op: Parameters<typeof controllerSubject>[0], body: unknown) =>
      JSON.parse((await natsRequest(controllerSubject(op), JSON.stringify(body))).text);
    assert.equal((await ctl("functions.get", { name, version: 2 })).error.code, "NOT_FOUND");
    for (const old of oldIds) assert.equal((await ctl("invocations.get", { invocationId: old })).error.code, "NOT_FOUND");
  });

  test("no answer after the DELETE carried the deleted function's secret", () => {
    assert.ok(afterDelete.length > 20, `${afterDelete.length} answers checked`);
    for (const text of afterDelete) assert.ok(!text.includes(SECRET), `leaked in: ${text.slice(0, 300)}`);
  });
});

test("a warm container of the deleted function never serves the new one", async () => {
  const name = uniqueName("warm");
  for (let round = 1; round <= 6; round++) {
    const put = await http("PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: `exports.handler = async () => "gen-${round}"` });
    assert.equal(put.status, 201);
    assert.equal(put.body.version, 1, "every life starts at version 1: the same number as the previous one's warm container");
    for (let call = 0; call < 4; call++) {
      const res = await http("POST", `/v1/functions/${name}/invoke`, {});
      assert.equal(res.body.output, `gen-${round}`, `round ${round}, call ${call}: ${JSON.stringify(res.body)}`);
    }
    assert.equal((await http("DELETE", `/v1/functions/${name}`)).status, 200);
  }
  await eventually(async () => ((await containersOf(name)).length === 0 ? true : undefined), "every incarnation's containers removed");
});

test("a busy container of the deleted function, with room for more calls, takes none of the new function's", async () => {
  const name = uniqueName("busy");
  const code = (gen: string) => `exports.handler = async (e) => { if (e.ms) await new Promise((r) => setTimeout(r, e.ms)); return "${gen}"; }`;
  assert.equal((await http("PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: code("old"), concurrency: 8 })).status, 201);
  assert.equal((await http("POST", `/v1/functions/${name}/invoke`, {})).body.output, "old");
  // Jobs of earlier tests may still be finishing (their records being published): count from an idle agent.
  await until(() => fabric.agent.status().busy === 0, "the agent idle");
  const busyBefore = 0;
  const long = http("POST", `/v1/functions/${name}/invoke`, { ms: 3000 });
  await until(() => fabric.agent.status().busy === busyBefore + 1, "the long call inside the agent");

  assert.equal((await http("DELETE", `/v1/functions/${name}`)).status, 200);
  assert.equal((await http("PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: code("new"), concurrency: 8 })).body.version, 1);
  const calls = await Promise.all(Array.from({ length: 6 }, () => http("POST", `/v1/functions/${name}/invoke`, {})));
  for (const res of calls) assert.equal(res.body.output, "new", JSON.stringify(res.body));
  assert.equal((await long).body.output, "old", "the call already running finishes");
});

test("a job parked in the agent behind a busy container ends FUNCTION_DELETED at the DELETE and never starts", async () => {
  const name = uniqueName("parked");
  const code = `exports.handler = async (e) => { if (e.ms) await new Promise((r) => setTimeout(r, e.ms)); return "ran"; }`;
  assert.equal((await http("PUT", `/v1/functions/${name}`, { runtime: "nodejs", code, concurrency: 1 })).status, 201);
  // A cold call, then a warm one: the pool now knows a call holds the container for ~1 ms, so a second job
  // queues behind the busy container rather than start another.
  for (let i = 0; i < 2; i++) assert.equal((await http("POST", `/v1/functions/${name}/invoke`, {})).body.output, "ran");
  // Jobs of earlier tests may still be finishing (their records being published): count from an idle agent.
  await until(() => fabric.agent.status().busy === 0, "the agent idle");
  const busyBefore = 0;

  let longDone = false;
  const long = http("POST", `/v1/functions/${name}/invoke`, { ms: 4000 }).finally(() => (longDone = true));
  await until(() => fabric.agent.status().busy === busyBefore + 1, "the long call inside the agent");
  const parked = http("POST", `/v1/functions/${name}/invoke`, {});
  await until(() => fabric.agent.status().busy === busyBefore + 2, "the second call parked inside the agent");

  assert.equal((await http("DELETE", `/v1/functions/${name}`)).status, 200);
  const ended = await parked;
  assert.equal(ended.body.status, "error");
  assert.equal(ended.body.error.code, "FUNCTION_DELETED", JSON.stringify(ended.body));
  assert.equal(ended.body.coldStart, false, "no container was started for it");
  assert.equal(longDone, false, "it ended at the DELETE, not when the busy container was released");
  const running = await long;
  assert.equal(running.body.output, "ran", "the call already running finishes");
});
