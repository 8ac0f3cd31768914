// Async semantics on the real fabric (issue 10): user retries with their backoff measured, the attempts on the
// record, expiry, dead letters listed, re-driven after the code is fixed and purged, both kinds of destination,
// and a destination loop stopped by the chain-depth limit. NATS, FerretDB and Docker are all real.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { loadWeftProto } from "./bench/grpc-client.js";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { LIMITS } from "../shared/limits.js";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { HEADERS } from "../shared/headers.js";
import { jobSubject } from "../shared/subjects.js";

const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

const PY_FAILING = `def handler(event, context):\n    raise ValueError("failing attempt %d" % context.attempt)\n`;
const PY_FIXED = `def handler(event, context):\n    return {"fixed": event["n"], "attempt": context.attempt}\n`;
const PY_ECHO = `def handler(event, context):\n    return {"got": event}\n`;
const JS_OK = `exports.handler = async (event, context) => ({ hello: event.name, attempt: context.attempt })\n`;

let fabric: Fabric;
let nc: NatsConnection;

async function deploy(name: string, spec: Record<string, unknown>) {
  const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, spec);
  assert.ok(res.status === 200 || res.status === 201, `deploy ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function invokeAsync(name: string, event: unknown): Promise<string> {
  const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke?async=true`, event);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.invocationId as string;
}

/** The record once its final phase is stored. */
async function finalRecord(id: string, timeoutMs = 60_000) {
  return eventually(async () => {
    const res = await http(fabric.httpUrl, "GET", `/v1/invocations/${id}`);
    return res.status === 200 && !["queued", "running"].includes(res.body.status) ? res.body : undefined;
  }, `final record of ${id}`, timeoutMs, 100);
}

async function deadLetters(name: string) {
  const res = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/dead-letters`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.deadLetters as Array<Record<string, any>>;
}

before(async () => {
  fabric = await startFabric();
  nc = await connect({ servers: fabric.nats.url });
});

after(async () => {
  await nc?.close();
  await fabric?.stop();
});

describe("async configuration", () => {
  test("is validated at PUT: a bad field is a 400 naming it", async () => {
    const name = uniqueName("cfg");
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ maxRetries: 3 }, "async.maxRetries"],
      [{ maxEventAgeMs: 6 * 3600_000 + 1 }, "async.maxEventAgeMs"],
      [{ onSuccess: { subject: "weft.invoke.x" } }, "async.onSuccess"],
      [{ onFailure: { function: "Not A Name" } }, "async.onFailure"],
      [{ retries: 1 }, "async"],
    ];
    for (const [cfg, field] of cases) {
      const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code: PY_ECHO, async: cfg });
      assert.equal(res.status, 400, JSON.stringify(cfg));
      assert.ok(String(res.body.error.field).startsWith(field), `${JSON.stringify(cfg)} names ${res.body.error.field}, not ${field}`);
    }
    const ok = await deploy(name, { runtime: "python3", code: PY_ECHO, async: { maxRetries: 1, onSuccess: { subject: "orders.done" } } });
    assert.deepEqual(ok.async, { maxRetries: 1, maxEventAgeMs: LIMITS.eventAgeMs.default, onSuccess: { subject: "orders.done" } });
  });

  test("over gRPC too: PutFunction takes it, GetFunction returns it, a bad field is INVALID_ARGUMENT naming it", async () => {
    const weft = loadWeftProto();
    const functions = new weft.FunctionService(fabric.grpcAddress, credentials.createInsecure());
    const call = (method: string, req: unknown) =>
      new Promise<{ err: ServiceError | null; res: any }>((resolve) => functions[method](req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
    try {
      const name = uniqueName("grpc-async");
      const put = await call("PutFunction", { name, spec: { runtime: "python3", code: PY_ECHO, async: { maxRetries: 0, onFailure: { function: "repair" } } } });
      assert.equal(put.err, null, put.err?.message);
      const got = await call("GetFunction", { name });
      assert.equal(got.res.async.maxRetries, 0);
      assert.equal(got.res.async.maxEventAgeMs, LIMITS.eventAgeMs.default);
      assert.equal(got.res.async.onFailure.function, "repair");
      const bad = await call("PutFunction", { name, spec: { runtime: "python3", code: PY_ECHO, async: { maxRetries: 5 } } });
      assert.equal(bad.err?.code, GrpcStatus.INVALID_ARGUMENT);
      assert.equal(bad.err?.metadata.get("weft-error-field")[0], "async.maxRetries");
    } finally {
      functions.close();
    }
  });
});

describe("retries and dead letters", () => {
  test("a failing async invocation is retried twice with backoff from 1 s, dead-lettered, and re-driven once fixed", async () => {
    const name = uniqueName("retry");
    await deploy(name, { runtime: "python3", code: PY_FAILING });
    const id = await invokeAsync(name, { n: 7 });
    const record = await finalRecord(id);
    assert.equal(record.status, "error");
    assert.equal(record.error.code, "HANDLER_ERROR");
    // The handler saw its user attempt as context.attempt: the last one was the third.
    assert.match(record.error.message, /failing attempt 3/);
    assert.equal(record.attempt, 3);
    assert.deepEqual(record.attempts.map((a: any) => [a.attempt, a.retry, a.delivery, a.status, a.errorCode]), [
      [1, 0, 1, "error", "HANDLER_ERROR"],
      [2, 1, 1, "error", "HANDLER_ERROR"],
      [3, 2, 1, "error", "HANDLER_ERROR"],
    ]);
    for (const a of record.attempts) assert.ok(typeof a.agent === "string" && a.agent.length > 0);
    // Backoff: retry k waits 1 s × 2^(k-1) × (1 + up to 0.5 jitter) after attempt k ended; the rest is the
    // scheduler's release and an agent's pull, bounded loosely for a loaded machine.
    const gaps = [1, 2].map((i) => Date.parse(record.attempts[i].startedAt) - Date.parse(record.attempts[i - 1].finishedAt));
    console.log(`retry gaps (ms): ${gaps.join(", ")}`);
    assert.ok(gaps[0]! >= 1000 && gaps[0]! <= 1500 + 1500, `first retry after ${gaps[0]} ms`);
    assert.ok(gaps[1]! >= 2000 && gaps[1]! <= 3000 + 1500, `second retry after ${gaps[1]} ms`);

    const letters = await eventually(async () => {
      const l = await deadLetters(name);
      return l.length > 0 ? l : undefined;
    }, "the dead letter");
    assert.equal(letters.length, 1);
    const letter = letters[0]!;
    assert.equal(letter.id, id);
    assert.equal(letter.reason, "failed");
    assert.equal(letter.status, "error");
    assert.deepEqual(letter.event, { n: 7 });
    assert.equal(letter.attempts.length, 3);
    const one = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/dead-letters?id=${id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.deadLetters[0].error.code, "HANDLER_ERROR");
    assert.equal((await http(fabric.httpUrl, "GET", `/v1/functions/${name}/dead-letters?id=nope`)).status, 404);

    const metrics = await (await fetch(`${fabric.httpUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`weft_dead_letters_total\\{function="${name}",reason="failed"\\} 1`));

    // Fix the code, then re-drive: the event runs again on the latest version and the dead letter is gone.
    await deploy(name, { runtime: "python3", code: PY_FIXED });
    const bad = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/dead-letters/redrive`, { id, all: true });
    assert.equal(bad.status, 400);
    const redrive = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/dead-letters/redrive`, { id });
    assert.equal(redrive.status, 200, JSON.stringify(redrive.body));
    assert.equal(redrive.body.redriven.length, 1);
    const again = await finalRecord(redrive.body.redriven[0].invocationId);
    assert.equal(again.status, "ok");
    assert.deepEqual(again.output, { fixed: 7, attempt: 1 });
    assert.equal(again.version, 2);
    assert.deepEqual(await deadLetters(name), []);
    const after = await (await fetch(`${fabric.httpUrl}/metrics`)).text();
    assert.match(after, new RegExp(`weft_dead_letters_redriven_total\\{function="${name}"\\} 1`));
  });

  test("maxRetries 0: one attempt; redrive all and purge", async () => {
    const name = uniqueName("noretry");
    await deploy(name, { runtime: "python3", code: PY_FAILING, async: { maxRetries: 0 } });
    const ids = [await invokeAsync(name, { n: 1 }), await invokeAsync(name, { n: 2 }), await invokeAsync(name, { n: 3 })];
    for (const id of ids) assert.equal((await finalRecord(id)).attempts.length, 1);
    await eventually(async () => ((await deadLetters(name)).length === 3 ? true : undefined), "three dead letters");
    const page = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/dead-letters?limit=2`);
    assert.equal(page.body.deadLetters.length, 2);
    const rest = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/dead-letters?limit=2&after=${page.body.next}`);
    // In the order they were dead-lettered (stream order), which is the order they failed in.
    assert.deepEqual([...page.body.deadLetters, ...rest.body.deadLetters].map((d: any) => d.id).sort(), [...ids].sort());
    assert.equal(rest.body.next, undefined);

    const purged = await http(fabric.httpUrl, "DELETE", `/v1/functions/${name}/dead-letters`);
    assert.deepEqual(purged.body, { purged: 3 });
    assert.deepEqual(await deadLetters(name), []);

    const id = await invokeAsync(name, { n: 4 });
    await finalRecord(id);
    await eventually(async () => ((await deadLetters(name)).length === 1 ? true : undefined), "a new dead letter");
    await deploy(name, { runtime: "python3", code: PY_FIXED });
    const all = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/dead-letters/redrive`, { all: true });
    assert.equal(all.body.redriven.length, 1);
    assert.equal((await finalRecord(all.body.redriven[0].invocationId)).status, "ok");
  });

  test("context.attempt counts both kinds: a retry after a try that took two deliveries is attempt 3", async () => {
    const name = uniqueName("count");
    await deploy(name, { runtime: "nodejs", code: JS_OK });
    // The retry as the scheduler releases it, after a first try whose first delivery was lost with its agent.
    const id = `count-${randomBytes(4).toString("hex")}`;
    const first = { attempt: 2, retry: 0, delivery: 2, agent: "lost-then-ran", startedAt: Date.now() - 2000, finishedAt: Date.now() - 1900, status: "error", errorCode: "HANDLER_ERROR" };
    const h = natsHeaders();
    h.set(HEADERS.invocationId, id);
    h.set(HEADERS.enqueuedAt, String(Date.now() - 3000));
    h.set(HEADERS.retry, "1");
    h.set(HEADERS.attempts, JSON.stringify([first]));
    await jetstream(nc).publish(jobSubject(name), JSON.stringify({ name: "n" }), { headers: h, msgID: `${id}.r1` });
    const record = await finalRecord(id);
    assert.equal(record.status, "ok");
    assert.deepEqual(record.output, { hello: "n", attempt: 3 });
    assert.equal(record.attempt, 3);
    assert.deepEqual(record.attempts.map((a: any) => [a.attempt, a.retry, a.delivery, a.status]), [[2, 0, 2, "error"], [3, 1, 1, "ok"]]);
  });

  test("a synchronous call is never retried", async () => {
    const name = uniqueName("sync");
    await deploy(name, { runtime: "python3", code: PY_FAILING });
    const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, {});
    assert.equal(res.body.status, "error");
    const record = await finalRecord(res.body.invocationId);
    assert.equal(record.attempts.length, 1);
    assert.deepEqual(await deadLetters(name), []);
  });

  test("an event older than maxEventAgeMs is not started: it expires into the dead letters and fires onFailure", async () => {
    const name = uniqueName("expire");
    const subject = `test.expired.${randomBytes(4).toString("hex")}`;
    await deploy(name, { runtime: "python3", code: PY_FAILING, async: { maxEventAgeMs: 1000, onFailure: { subject } } });
    const sub = nc.subscribe(subject, { max: 1 });
    const failure = Promise.race([
      (async () => { for await (const m of sub) return m; })(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no onFailure message in 60 s")), 60_000)),
    ]);
    const id = await invokeAsync(name, {});
    const record = await finalRecord(id);
    // The first attempt failed; the retry fell due after more than 1 s, so it was not started.
    assert.equal(record.status, "killed");
    assert.equal(record.error.code, "EVENT_EXPIRED");
    assert.deepEqual(record.attempts.map((a: any) => a.errorCode), ["HANDLER_ERROR", "EVENT_EXPIRED"]);
    const letters = await eventually(async () => {
      const l = await deadLetters(name);
      return l.length > 0 ? l : undefined;
    }, "the expired dead letter");
    assert.equal(letters[0]!.reason, "expired");
    const sent = await failure;
    assert.equal(sent?.headers?.get("Weft-Status"), "killed");
    assert.equal(sent?.json<Record<string, any>>().error.code, "EVENT_EXPIRED");
    // Deleted means deleted: the function's dead letters go with it.
    assert.equal((await http(fabric.httpUrl, "DELETE", `/v1/functions/${name}`)).status, 200);
    await eventually(async () => ((await deadLetters(name)).length === 0 ? true : undefined), "the dead letters purged with the function");
  });
});

describe("destinations", () => {
  test("onSuccess to a subject: the record with headers naming function, version, invocation and status", async () => {
    const name = uniqueName("dsub");
    const subject = `test.done.${randomBytes(4).toString("hex")}`;
    await deploy(name, { runtime: "nodejs", code: JS_OK, async: { onSuccess: { subject } } });
    const sub = nc.subscribe(subject, { max: 1 });
    const id = await invokeAsync(name, { name: "dest" });
    const got = await Promise.race([
      (async () => { for await (const m of sub) return m; })(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no destination message in 60 s")), 60_000)),
    ]);
    assert.ok(got);
    assert.equal(got.headers?.get("Weft-Function"), name);
    assert.equal(got.headers?.get("Weft-Version"), "1");
    assert.equal(got.headers?.get("Weft-Invocation-Id"), id);
    assert.equal(got.headers?.get("Weft-Status"), "ok");
    const record = got.json<Record<string, any>>();
    assert.equal(record.invocationId, id);
    assert.equal(record.status, "ok");
    assert.deepEqual(JSON.parse(record.output), { hello: "dest", attempt: 1 });
  });

  test("onFailure to a function: it is invoked async with the failed invocation's record as its event", async () => {
    const sink = uniqueName("sink");
    const name = uniqueName("dfn");
    await deploy(sink, { runtime: "python3", code: PY_ECHO });
    await deploy(name, { runtime: "python3", code: PY_FAILING, async: { maxRetries: 0, onFailure: { function: sink } } });
    const id = await invokeAsync(name, { n: 1 });
    const failed = await finalRecord(id);
    assert.equal(failed.status, "error");
    const chained = await finalRecord(`${id}-d`);
    assert.equal(chained.functionName, sink);
    assert.equal(chained.status, "ok");
    assert.equal(chained.output.got.invocationId, id);
    assert.equal(chained.output.got.status, "error");
    assert.equal(chained.output.got.error.code, "HANDLER_ERROR");
  });

  test("a destination loop is stopped at the chain depth and dead-lettered", async () => {
    const name = uniqueName("loop");
    await deploy(name, { runtime: "nodejs", code: JS_OK, async: { maxRetries: 0, onSuccess: { function: name } } });
    const id = await invokeAsync(name, { name: "loop" });
    const deepest = id + "-d".repeat(LIMITS.chainDepth);
    const refused = deepest + "-d";
    const letters = await eventually(async () => {
      const l = await deadLetters(name);
      return l.length > 0 ? l : undefined;
    }, "the loop's dead letter", 120_000, 200);
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.id, refused);
    assert.equal(letters[0]!.reason, "chain-too-deep");
    assert.equal(letters[0]!.error.code, "CHAIN_TOO_DEEP");
    assert.equal(letters[0]!.chainDepth, LIMITS.chainDepth + 1);
    assert.equal((await finalRecord(deepest)).status, "ok");
    assert.equal((await http(fabric.httpUrl, "GET", `/v1/invocations/${refused}`)).status, 404);
  });
});
