// End to end on the real fabric: HTTP and NATS front doors, real agent and containers (runc and gVisor),
// controller writing records to a real MongoDB wire server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { invokeSubject } from "../shared/subjects.js";
import { HEADERS } from "../shared/headers.js";
import { readDoc, type InvocationDoc, type StoredDoc } from "../controller/invocation-records.js";

const PY_HELLO = `def handler(event, context):\n    return {"hello": event["name"]}\n`;
const JS_HELLO = `exports.handler = async (event) => ({ hello: event.name })\n`;

const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

let fabric: Fabric;
let nc: NatsConnection;
let mongo: MongoClient;

async function deploy(name: string, spec: Record<string, unknown>) {
  const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, spec);
  assert.ok(res.status === 200 || res.status === 201, `deploy ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const invoke = (name: string, event: unknown, query = "") =>
  http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke${query}`, event);

async function recordInMongo(invocationId: string, final = true) {
  return eventually(async () => {
    const stored = await mongo.db(fabric.mongoDb).collection<StoredDoc>("invocations").findOne({ _id: invocationId });
    if (!stored) return undefined;
    const doc = readDoc(stored);
    if (final && !("status" in doc && doc.status)) return undefined;
    return doc as InvocationDoc;
  }, `record ${invocationId} in MongoDB`);
}

before(async () => {
  fabric = await startFabric();
  nc = await connect({ servers: fabric.nats.url });
  mongo = await new MongoClient(fabric.mongoUrl).connect();
});

after(async () => {
  await nc?.close();
  await mongo?.close();
  await fabric?.stop();
});

describe("functions over HTTP", () => {
  test("create, update to a new version, get, list, pinned-version invoke, delete", async () => {
    const name = uniqueName("crud");
    const created = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code: PY_HELLO });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, name);
    assert.equal(created.body.version, 1);
    assert.equal(created.body.isolation, "runc");
    assert.equal(created.body.limits.timeoutMs, 30000);

    const v2code = `def handler(event, context):\n    return {"v": 2}\n`;
    const updated = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code: v2code });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.version, 2);

    const got = await http(fabric.httpUrl, "GET", `/v1/functions/${name}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.version, 2);
    assert.equal(got.body.code, v2code);

    const list = await http(fabric.httpUrl, "GET", `/v1/functions`);
    assert.equal(list.status, 200);
    const items = Array.isArray(list.body) ? list.body : list.body.functions;
    assert.ok(items.some((f: { name: string; version: number }) => f.name === name && f.version === 2));

    const latest = await invoke(name, { name: "x" });
    assert.equal(latest.status, 200);
    assert.deepEqual(latest.body.output, { v: 2 });
    assert.equal(latest.body.version, 2);
    const pinned = await invoke(name, { name: "x" }, "?version=1");
    assert.equal(pinned.status, 200);
    assert.deepEqual(pinned.body.output, { hello: "x" });
    assert.equal(pinned.body.version, 1);

    const deleted = await http(fabric.httpUrl, "DELETE", `/v1/functions/${name}`);
    assert.equal(deleted.status, 200);
    const gone = await invoke(name, { name: "x" });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, "NOT_FOUND");
    assert.equal((await http(fabric.httpUrl, "GET", `/v1/functions/${name}`)).status, 404);
  });

  test("bad input is refused with a 4xx naming the field", async () => {
    const name = uniqueName("bad");
    const cases: Array<[string, string, unknown, number, string | undefined]> = [
      ["PUT", `/v1/functions/Bad_Name`, { runtime: "python3", code: PY_HELLO }, 400, "name"],
      ["PUT", `/v1/functions/${name}`, { runtime: "cobol", code: PY_HELLO }, 400, "runtime"],
      ["PUT", `/v1/functions/${name}`, { runtime: "python3" }, 400, "code"],
      ["PUT", `/v1/functions/${name}`, { runtime: "python3", code: PY_HELLO, limits: { timeoutMs: -1 } }, 400, "limits.timeoutMs"],
      ["PUT", `/v1/functions/${name}`, { runtime: "python3", code: PY_HELLO, limits: { memoryMb: 1e9 } }, 400, "limits.memoryMb"],
      ["PUT", `/v1/functions/${name}`, { runtime: "python3", code: PY_HELLO, isolation: "kvm" }, 400, "isolation"],
      ["POST", `/v1/functions/${uniqueName("nope")}/invoke`, {}, 404, undefined],
      ["GET", `/v1/invocations/does-not-exist`, undefined, 404, undefined],
    ];
    for (const [method, path, body, status, field] of cases) {
      const res = await http(fabric.httpUrl, method, path, body);
      assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      assert.ok(res.body.error.code, "error has a code");
      if (field) assert.equal(res.body.error.field, field, JSON.stringify(res.body));
    }
    const notJson = await fetch(`${fabric.httpUrl}/v1/functions/${name}`, { method: "PUT", body: "{nope" });
    assert.equal(notJson.status, 400);
  });

  test("a payload over 6 MB is refused with 413 and the gateway stays up", async () => {
    const name = uniqueName("big");
    await deploy(name, { runtime: "nodejs", code: JS_HELLO });
    const big = JSON.stringify({ name: "x".repeat(6 * 1024 * 1024 + 10) });
    const res = await fetch(`${fabric.httpUrl}/v1/functions/${name}/invoke`, { method: "POST", body: big, headers: { "content-type": "application/json" } });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as any).error.code, "PAYLOAD_TOO_LARGE");
    const ok = await invoke(name, { name: "after" });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.output, { hello: "after" });
  });
});

describe("invocation", () => {
  for (const isolation of ["runc", "gvisor"] as const) {
    test(`python3 and nodejs handlers on ${isolation}: output, cold then warm`, async () => {
      for (const [runtime, code] of [["python3", PY_HELLO], ["nodejs", JS_HELLO]] as const) {
        const name = uniqueName(`${runtime === "python3" ? "py" : "js"}-${isolation}`);
        await deploy(name, { runtime, code, isolation });
        const first = await invoke(name, { name: "weft" });
        assert.equal(first.status, 200, JSON.stringify(first.body));
        assert.equal(first.body.status, "ok");
        assert.deepEqual(first.body.output, { hello: "weft" });
        assert.equal(first.body.coldStart, true);
        assert.match(first.body.invocationId, /\S+/);
        const second = await invoke(name, { name: "again" });
        assert.equal(second.body.status, "ok");
        assert.deepEqual(second.body.output, { hello: "again" });
        assert.equal(second.body.coldStart, false, "second call reuses the warm container");
      }
    });
  }

  test("print output is captured as the invocation's logs, per invocation", async () => {
    const name = uniqueName("logs");
    await deploy(name, {
      runtime: "python3",
      code: `import sys\ndef handler(event, context):\n    print("out", event["n"])\n    print("err", event["n"], file=sys.stderr)\n    return event["n"]\n`,
    });
    const a = await invoke(name, { n: 1 });
    const b = await invoke(name, { n: 2 });
    assert.equal(a.body.output, 1);
    assert.match(a.body.logs, /out 1/);
    assert.match(a.body.logs, /err 1/);
    assert.doesNotMatch(b.body.logs, /out 1/, "a warm container does not leak the previous call's logs");
    assert.match(b.body.logs, /out 2/);
  });

  test("async Python handlers run: async def, and a plain function returning a coroutine", async () => {
    // The worker imports asyncio only for these (it costs every container about 8 MB otherwise).
    const name = uniqueName("pyasync");
    await deploy(name, {
      runtime: "python3",
      code: `import asyncio\nasync def handler(event, context):\n    await asyncio.sleep(0.01)\n    return {"twice": event["n"] * 2}\n`,
    });
    for (const n of [1, 2]) {
      const res = await invoke(name, { n });
      assert.equal(res.body.status, "ok", JSON.stringify(res.body));
      assert.deepEqual(res.body.output, { twice: n * 2 });
    }
    const plain = uniqueName("pycoro");
    await deploy(plain, {
      runtime: "python3",
      code: `async def later(n):\n    return n + 1\ndef handler(event, context):\n    return later(event["n"])\n`,
    });
    const res = await invoke(plain, { n: 41 });
    assert.equal(res.body.status, "ok", JSON.stringify(res.body));
    assert.equal(res.body.output, 42);
  });

  test("a handler that throws ends as status error with its exception type", async () => {
    const name = uniqueName("throws");
    await deploy(name, { runtime: "nodejs", code: `exports.handler = async () => { throw new TypeError("boom") }` });
    const res = await invoke(name, {});
    assert.equal(res.status, 200);
    assert.equal(res.body.status, "error");
    assert.equal(res.body.error.code, "HANDLER_ERROR");
    assert.equal(res.body.error.type, "TypeError");
    assert.match(res.body.error.message, /boom/);
  });

  test("a handler past its timeout ends as status timeout and the function still works after", async () => {
    const name = uniqueName("slow");
    await deploy(name, {
      runtime: "python3",
      limits: { timeoutMs: 500 },
      code: `import time\ndef handler(event, context):\n    if event.get("sleep"):\n        time.sleep(30)\n    return "done"\n`,
    });
    const started = Date.now();
    const res = await invoke(name, { sleep: true });
    assert.equal(res.body.status, "timeout");
    assert.ok(Date.now() - started < 10_000, "the timeout cut the call short");
    const after = await invoke(name, {});
    assert.equal(after.body.status, "ok");
    assert.equal(after.body.output, "done");
    assert.equal(after.body.coldStart, true, "a timed-out container is not reused");
  });

  test("code that does not parse is refused at deploy or reported at its first invocation", async () => {
    const name = uniqueName("syntax");
    const put = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code: "def handler(:\n" });
    if (put.status === 400) {
      assert.equal(put.body.error.field, "code");
      return;
    }
    const res = await invoke(name, {});
    assert.equal(res.body.status, "error");
    assert.equal(res.body.error.code, "INIT_ERROR");
  });

  test("async invocation: 202, then the record reads back queued/running/final from MongoDB", async () => {
    const name = uniqueName("async");
    await deploy(name, { runtime: "nodejs", code: JS_HELLO });
    const accepted = await invoke(name, { name: "later" }, "?async=true");
    assert.equal(accepted.status, 202);
    const id = accepted.body.invocationId;
    assert.ok(id);
    const record = await eventually(async () => {
      const r = await http(fabric.httpUrl, "GET", `/v1/invocations/${id}`);
      return r.status === 200 && r.body.status === "ok" ? r.body : undefined;
    }, "final record over HTTP");
    assert.deepEqual(record.output, { hello: "later" });
    assert.deepEqual(record.event, { name: "later" });
    assert.equal(record.functionName, name);
    const doc = await recordInMongo(id);
    assert.equal(doc.status, "ok");
    assert.equal(doc.agent, fabric.agent.agentId);
  });

  test("invocation records and metrics come back from MongoDB", async () => {
    const name = uniqueName("metrics");
    await deploy(name, {
      runtime: "python3",
      code: `def handler(event, context):\n    if event.get("fail"):\n        raise ValueError("no")\n    return 1\n`,
    });
    const ids: string[] = [];
    for (const fail of [false, false, false, true]) ids.push((await invoke(name, { fail })).body.invocationId);
    for (const id of ids) await recordInMongo(id);
    const first = await http(fabric.httpUrl, "GET", `/v1/invocations/${ids[0]}`);
    assert.deepEqual(first.body.event, { fail: false }, "a synchronous call's record keeps its event");
    assert.equal(first.body.output, 1);
    assert.equal(first.body.status, "ok");
    const list = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/invocations?limit=3`);
    assert.equal(list.status, 200);
    const items = Array.isArray(list.body) ? list.body : list.body.invocations;
    assert.equal(items.length, 3);
    assert.equal(items[0].invocationId, ids[3], "newest first");
    const m = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/metrics`);
    assert.equal(m.status, 200);
    assert.equal(m.body.count, 4);
    assert.equal(m.body.errors, 1);
    assert.equal(m.body.coldStarts, 1);
    assert.ok(m.body.durationMs.p50 > 0);
    assert.ok(m.body.durationMs.p99 >= m.body.durationMs.p50);
    const bad = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/invocations?limit=zero`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, "limit");
  });
});

describe("containers and lifecycle", () => {
  test("per-container concurrency: concurrent calls of a nodejs function with concurrency 4 share one container", async () => {
    const name = uniqueName("conc");
    await deploy(name, {
      runtime: "nodejs",
      concurrency: 4,
      code: `const id = Math.random().toString(36).slice(2);\nexports.handler = async () => { await new Promise((r) => setTimeout(r, 300)); return id; }`,
    });
    assert.equal((await invoke(name, {})).body.status, "ok"); // a container exists and is warm
    const results = await Promise.all([1, 2, 3, 4].map(() => invoke(name, {})));
    assert.deepEqual(results.map((r) => r.body.status), ["ok", "ok", "ok", "ok"]);
    assert.equal(new Set(results.map((r) => r.body.output)).size, 1, "all four ran in the same container");
  });

  test("deleting a function lets a running invocation finish and stops new ones at once", async () => {
    const name = uniqueName("delrun");
    await deploy(name, { runtime: "python3", code: `import time\ndef handler(event, context):\n    time.sleep(1.5)\n    return "finished"\n` });
    const running = invoke(name, {});
    await eventually(async () => {
      const list = await http(fabric.httpUrl, "GET", `/v1/functions/${name}/invocations?limit=1`);
      return list.body?.invocations?.[0]?.status === "running" ? true : undefined;
    }, "the invocation to be running");
    assert.equal((await http(fabric.httpUrl, "DELETE", `/v1/functions/${name}`)).status, 200);
    assert.equal((await invoke(name, {})).status, 404, "no new invocation once deleted");
    const done = await running;
    assert.equal(done.body.status, "ok");
    assert.equal(done.body.output, "finished");
  });
});

describe("NATS front door", () => {
  test("a NATS request to weft.invoke.{name} gets the result object back", async () => {
    const name = uniqueName("nreq");
    await deploy(name, { runtime: "python3", code: PY_HELLO });
    const reply = await nc.request(invokeSubject(name), JSON.stringify({ name: "nats" }), { timeout: 20_000 });
    const result = reply.json<any>();
    assert.equal(result.status, "ok");
    assert.deepEqual(result.output, { hello: "nats" });
    assert.ok(result.invocationId);
    const doc = await recordInMongo(result.invocationId);
    assert.equal(doc.functionName, name);
  });

  test("a plain NATS publish runs the function; the record lands in MongoDB", async () => {
    const name = uniqueName("npub");
    await deploy(name, { runtime: "nodejs", code: JS_HELLO });
    const marker = randomBytes(4).toString("hex");
    nc.publish(invokeSubject(name), JSON.stringify({ name: marker }));
    const doc = await eventually(async () => {
      const d = await mongo.db(fabric.mongoDb).collection<StoredDoc>("invocations").findOne({ functionName: name, status: "ok" });
      return d ? (readDoc(d) as InvocationDoc) : undefined;
    }, "published invocation's record");
    assert.equal(JSON.parse(doc.outputJson!).hello, marker);
  });

  test("a NATS request with Weft-Async answers with the invocation id at once", async () => {
    const name = uniqueName("nasync");
    await deploy(name, { runtime: "nodejs", code: JS_HELLO });
    const h = headers();
    h.set(HEADERS.async, "true");
    const reply = await nc.request(invokeSubject(name), JSON.stringify({ name: "q" }), { timeout: 5000, headers: h });
    const accepted = reply.json<any>();
    assert.ok(accepted.invocationId);
    const doc = await recordInMongo(accepted.invocationId);
    assert.equal(doc.status, "ok");
  });

  test("invalid input over NATS gets an error object naming the problem", async () => {
    const reply = await nc.request(invokeSubject(uniqueName("missing")), "{}", { timeout: 5000 });
    assert.equal(reply.json<any>().error.code, "NOT_FOUND");
    const name = uniqueName("njson");
    await deploy(name, { runtime: "nodejs", code: JS_HELLO });
    const bad = await nc.request(invokeSubject(name), "not json", { timeout: 5000 });
    assert.equal(bad.json<any>().error.code, "INVALID_ARGUMENT");
  });
});
