// Triggers on the real fabric: CRUD over HTTP and gRPC, a subject trigger with a wildcard, a stream trigger with a
// filter, pause and resume, counters, bad input, and a deleted function disabling its triggers.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { RecordTap } from "./harness/record-tap.js";
import { loadWeftProto } from "./bench/grpc-client.js";
import { LIMITS } from "../shared/limits.js";

let fabric: Fabric;
let nc: NatsConnection;
let tap: RecordTap;

before(async () => {
  fabric = await startFabric();
  nc = await connect({ servers: fabric.nats.url });
  tap = await RecordTap.start(fabric.nats.url);
});

after(async () => {
  await tap?.stop();
  await nc?.close();
  await fabric?.stop();
});

const api = (method: string, path: string, body?: unknown) => http(fabric.httpUrl, method, path, body);
const uid = () => randomBytes(3).toString("hex");
/** Returns the event it got, so a record shows exactly which message ran it. */
const ECHO = "def handler(event, context):\n    return event\n";

async function deploy(name: string): Promise<void> {
  const res = await api("PUT", `/v1/functions/${name}`, { runtime: "python3", code: ECHO });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

/** Outputs of the final records the tap has seen for a function. */
function outputsOf(fn: string): unknown[] {
  return tap
    .idsStartingWith("")
    .flatMap((id) => tap.finalsOf(id))
    .filter((r) => r.functionName === fn)
    .map((r) => JSON.parse(String((r as { output?: unknown }).output ?? "null")));
}

test("a subject trigger with a wildcard runs each matching message once, with the message data as the event", async () => {
  const fn = `subj-${uid()}`;
  await deploy(fn);
  const prefix = `orders${uid()}`;
  const put = await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, subject: `${prefix}.*.created` });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  assert.equal(put.body.kind, "subject");
  assert.equal(put.body.state, "active");

  for (let i = 0; i < 10; i++) nc.publish(`${prefix}.eu${i}.created`, JSON.stringify({ order: i }));
  nc.publish(`${prefix}.eu.updated`, JSON.stringify({ order: "no" })); // does not match
  nc.publish(`${prefix}.eu.x.created`, JSON.stringify({ order: "no" })); // * is one token
  await nc.flush();

  const outs = await eventually(async () => {
    const o = outputsOf(fn);
    return o.length >= 10 ? o : undefined;
  }, "10 invocations from the subject");
  assert.deepEqual((outs as Array<{ order: number }>).map((o) => o.order).sort((a, b) => a - b), [...Array(10).keys()]);
  const counters = await eventually(async () => {
    const g = await api("GET", `/v1/triggers/t-${fn}`);
    return g.body.counters.delivered === 10 ? g.body.counters : undefined;
  }, "the delivered counter");
  assert.deepEqual(counters, { delivered: 10, failed: 0, lag: 0 });

  // Not JSON: counted as failed, nothing runs.
  nc.publish(`${prefix}.bad.created`, "not json");
  await eventually(async () => ((await api("GET", `/v1/triggers/t-${fn}`)).body.counters.failed === 1 ? true : undefined), "the failed counter");
  assert.equal(outputsOf(fn).length, 10);
});

test("a stream trigger with a filter subject runs what its consumer gets; pause keeps its place, resume goes on", async () => {
  const fn = `strm-${uid()}`;
  await deploy(fn);
  const stream = `S${uid()}`;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  const js = jetstream(nc);
  const put = await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, stream, filterSubject: `${stream}.keep.>`, maxInFlight: 5 });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  for (let i = 0; i < 5; i++) await js.publish(`${stream}.keep.a`, JSON.stringify({ n: i }));
  await js.publish(`${stream}.drop.a`, JSON.stringify({ n: -1 }));
  await eventually(async () => (outputsOf(fn).length >= 5 ? true : undefined), "5 invocations from the stream");

  const paused = await api("POST", `/v1/triggers/t-${fn}/pause`);
  assert.equal(paused.body.state, "paused");
  for (let i = 5; i < 8; i++) await js.publish(`${stream}.keep.a`, JSON.stringify({ n: i }));
  const lagging = await eventually(async () => {
    const g = await api("GET", `/v1/triggers/t-${fn}`);
    return g.body.counters.lag === 3 ? g.body : undefined;
  }, "lag 3 while paused");
  assert.equal(lagging.counters.delivered >= 5, true);
  assert.equal(outputsOf(fn).length, 5, "nothing ran while paused");

  assert.equal((await api("POST", `/v1/triggers/t-${fn}/resume`)).body.state, "active");
  const outs = await eventually(async () => {
    const o = outputsOf(fn);
    return o.length >= 8 ? o : undefined;
  }, "the 3 held messages after resume");
  assert.deepEqual((outs as Array<{ n: number }>).map((o) => o.n).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);

  assert.equal((await api("DELETE", `/v1/triggers/t-${fn}`)).status, 200);
  assert.equal((await api("GET", `/v1/triggers/t-${fn}`)).status, 404);
  await assert.rejects(jsm.consumers.info(stream, `weft-trigger-t-${fn}`), "the consumer is gone with the trigger");
});

test("deleting a function disables its triggers; putting the trigger again binds it to the new function", async () => {
  const fn = `del-${uid()}`;
  await deploy(fn);
  const subject = `del${uid()}.in`;
  assert.equal((await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, subject })).status, 201);
  assert.equal((await api("DELETE", `/v1/functions/${fn}`)).status, 200);
  assert.equal((await api("GET", `/v1/triggers/t-${fn}`)).body.state, "disabled");
  await deploy(fn); // a new function of the same name
  assert.equal((await api("GET", `/v1/triggers/t-${fn}`)).body.state, "disabled", "a new function is not the old one");
  const again = await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, subject });
  assert.equal(again.status, 200);
  assert.equal(again.body.state, "active");
  nc.publish(subject, JSON.stringify({ back: true }));
  await eventually(async () => (outputsOf(fn).some((o) => (o as { back?: boolean })?.back) ? true : undefined), "the re-bound trigger runs");
});

test("bad trigger input is a 400 naming the field; unknown function or trigger a 404; listing shows them all", async () => {
  const fn = `bad-${uid()}`;
  await deploy(fn);
  const cases: Array<[unknown, number, string | RegExp]> = [
    [{ function: fn }, 400, "body"],
    [{ function: fn, subject: "weft.invoke.x" }, 400, "subject"],
    [{ function: fn, schedule: "61 * * * *" }, 400, "schedule"],
    [{ function: fn, schedule: "rate(1 minute)", timezone: "Nowhere/Land" }, 400, "timezone"],
    [{ function: fn, stream: "NO_SUCH_STREAM" }, 400, "stream"],
    // Weft's own streams hold every function's code and env (KV_weft-functions), the dead letters, the jobs.
    [{ function: fn, stream: "KV_weft-functions", deliverPolicy: "all" }, 400, "stream"],
    [{ function: fn, stream: "WEFT_DEAD_LETTERS" }, 400, "stream"],
    [{ function: fn, stream: "OBJ_anything" }, 400, "stream"],
    [{ function: "nope-nope", subject: "a.b" }, 404, /function nope-nope/],
    [{ function: fn, version: 9, subject: "a.b" }, 404, /version 9/],
  ];
  for (const [body, status, field] of cases) {
    const res = await api("PUT", `/v1/triggers/t-${fn}`, body);
    assert.equal(res.status, status, JSON.stringify([body, res.body]));
    if (typeof field === "string") assert.equal(res.body.error.field, field, JSON.stringify(res.body));
    else assert.match(res.body.error.message, field);
  }
  assert.equal((await api("PUT", "/v1/triggers/Bad_Id", { function: fn, subject: "a.b" })).status, 400);
  assert.equal((await api("GET", "/v1/triggers/no-such")).status, 404);
  assert.equal((await api("POST", "/v1/triggers/no-such/pause")).status, 404);

  assert.equal((await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, schedule: "0 9 * * MON", timezone: "Europe/Paris", event: { hi: 1 } })).status, 201);
  const list = await api("GET", "/v1/triggers");
  const mine = list.body.triggers.find((t: { id: string }) => t.id === `t-${fn}`);
  assert.equal(mine.kind, "schedule");
  assert.match(mine.nextTick, /T0[78]:00:00.000Z$/, "9:00 in Paris");
  assert.deepEqual(mine.event, { hi: 1 });
});

test("a stream of any name capturing Weft's subjects is refused: 400 naming stream, no consumer made", async () => {
  const fn = `snoop-${uid()}`;
  await deploy(fn);
  const stream = `SNOOP${uid()}`;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`weft.snoop${uid()}.>`] });
  try {
    const res = await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, stream, deliverPolicy: "all" });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.code, "INVALID_ARGUMENT");
    assert.equal(res.body.error.field, "stream");
    assert.match(res.body.error.message, /overlaps/);
    assert.equal((await api("GET", `/v1/triggers/t-${fn}`)).status, 404);
    await assert.rejects(jsm.consumers.info(stream, `weft-trigger-t-${fn}`), "no consumer was made");
  } finally {
    await jsm.streams.delete(stream);
  }
});

test("a loop through a subject destination and a trigger stops at the chain depth: limit + 1 runs, then refused", async () => {
  const fn = `tloop-${uid()}`;
  const subject = `tloop${uid()}.done`;
  const res = await api("PUT", `/v1/functions/${fn}`, {
    runtime: "python3",
    code: "def handler(event, context):\n    return {'ok': True}\n",
    async: { maxRetries: 0, onSuccess: { subject } },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal((await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, subject })).status, 201);
  const started = await api("POST", `/v1/functions/${fn}/invoke?async=true`, { go: 1 });
  assert.equal(started.status, 202, JSON.stringify(started.body));

  // Depths 0..limit run; the message the run at the limit publishes carries limit + 1 and is refused.
  const counters = await eventually(async () => {
    const c = (await api("GET", `/v1/triggers/t-${fn}`)).body.counters;
    return c.failed >= 1 ? c : undefined;
  }, "the trigger refusing the too-deep message", 180_000, 200);
  assert.deepEqual(counters, { delivered: LIMITS.chainDepth, failed: 1, lag: 0 });
  const runs = await eventually(async () => {
    const n = tap.idsStartingWith("").filter((id) => tap.finalsOf(id).some((r) => r.functionName === fn)).length;
    return n >= LIMITS.chainDepth + 1 ? n : undefined;
  }, "every run's final record");
  assert.equal(runs, LIMITS.chainDepth + 1);
  const again = (await api("GET", `/v1/triggers/t-${fn}`)).body.counters;
  assert.deepEqual(again, counters, "nothing ran after the refusal");
});

test("gRPC TriggerService: put, get, list, pause, resume, delete", async () => {
  const fn = `grpc-${uid()}`;
  await deploy(fn);
  const client = new (loadWeftProto().TriggerService)(fabric.grpcAddress, credentials.createInsecure());
  const call = (method: string, req: unknown) =>
    new Promise<{ err: ServiceError | null; res: any }>((resolve) => client[method](req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
  try {
    const id = `g-${fn}`;
    const put = await call("PutTrigger", { id, spec: { function: fn, schedule: "rate(1 hour)", event: { structValue: { fields: { a: { numberValue: 1 } } } } } });
    assert.equal(put.err, null, put.err?.message);
    assert.equal(put.res.created, true);
    assert.equal(put.res.trigger.kind, "schedule");
    assert.equal((await call("GetTrigger", { id })).res.state, "active");
    assert.ok((await call("ListTriggers", {})).res.triggers.some((t: { id: string }) => t.id === id));
    assert.equal((await call("PauseTrigger", { id })).res.state, "paused");
    assert.equal((await call("ResumeTrigger", { id })).res.state, "active");
    assert.equal((await call("DeleteTrigger", { id })).res.deleted, true);
    const gone = await call("GetTrigger", { id });
    assert.equal(gone.err?.metadata.get("weft-error-code")[0], "NOT_FOUND");
    const bad = await call("PutTrigger", { id, spec: { function: fn, subject: "$JS.API.x" } });
    assert.equal(bad.err?.metadata.get("weft-error-field")[0], "subject");
  } finally {
    client.close();
  }
});

test("weft trigger put | ls | get | pause | resume | rm, as users run it", async () => {
  const { spawn } = await import("node:child_process");
  const bin = new URL("../clients/cli/bin/weft.js", import.meta.url).pathname;
  const weft = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, WEFT_URL: fabric.httpUrl }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  const fn = `cli-${uid()}`;
  await deploy(fn);
  const id = `c-${fn}`;
  const put = await weft(["trigger", "put", id, "--function", fn, "--schedule", "rate(5 minutes)", "--event", '{"x":1}']);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, new RegExp(`trigger ${id}: schedule rate\\(5 minutes\\) → ${fn} \\(active\\)`));
  const ls = await weft(["trigger", "ls", "--json"]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(JSON.parse(ls.stdout).triggers.find((t: { id: string }) => t.id === id).event, { x: 1 });
  assert.match((await weft(["trigger", "ls"])).stdout, /ID\s+KIND\s+SOURCE\s+FUNCTION\s+STATE\s+DELIVERED\s+FAILED\s+LAG/);
  assert.match((await weft(["trigger", "pause", id])).stdout, /paused/);
  assert.match((await weft(["trigger", "get", id])).stdout, /state:\s+paused/);
  assert.match((await weft(["trigger", "resume", id])).stdout, /active/);
  assert.equal((await weft(["trigger", "rm", id])).code, 0);
  const gone = await weft(["trigger", "get", id]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /NOT_FOUND/);
  assert.equal((await weft(["trigger", "put", id, "--function", fn, "--subject", "a", "--stream", "S"])).code, 2, "two kinds: a usage error");
  const bad = await weft(["trigger", "put", id, "--function", fn, "--schedule", "99 * * * *"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /INVALID_ARGUMENT.*minute: 99/);
});
