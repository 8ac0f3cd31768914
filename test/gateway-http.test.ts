// The gateway's HTTP API on a real nats-server: CRUD forwarded to the controller, sync and async invocation
// through JetStream, and every kind of bad input answered with a clear error naming its field.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { startGateway, type Gateway } from "../gateway/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { HEADERS } from "../shared/headers.js";
import { AGENT_HEARTBEAT_SUBJECT } from "../shared/subjects.js";
import { startTelemetry } from "../shared/telemetry.js";
import { LIMITS } from "../shared/limits.js";
import {
  FakeController,
  Responder,
  http,
  startGatewayUnderTest,
  testLog,
  uniqueName,
  until,
  type GatewayUnderTest,
} from "./gateway-fixtures.js";

const JS = "exports.handler = async (e) => e";

let g: GatewayUnderTest;
let responder: Responder;
let controller: FakeController;

before(async () => {
  await startTelemetry("gateway-test", {}); // W3C propagation only: no exporter is configured
  g = await startGatewayUnderTest();
  responder = await new Responder(g.nc).start();
  controller = await new FakeController(g.nc, g.kv).start();
});

after(async () => {
  responder?.stop();
  controller?.stop();
  await g?.stop();
});

async function deploy(name: string, spec: Record<string, unknown> = { runtime: "nodejs", code: JS }) {
  const res = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, spec);
  assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
  return res.body;
}

/** Another gateway on the same NATS, with its own settings. */
async function otherGateway(env: Record<string, string>): Promise<{ gateway: Gateway; url: string }> {
  const gateway = await startGateway(
    loadGatewayConfig({ WEFT_NATS_URL: g.nats.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0", ...env }),
    testLog("gateway-2"),
  );
  return { gateway, url: `http://127.0.0.1:${gateway.httpPort}` };
}

const jobOf = (invocationId: string) => responder.jobs.find((j) => j.headers[HEADERS.invocationId] === invocationId);

describe("functions", () => {
  test("create, update to a new version, get (latest and pinned), list, delete", async () => {
    const name = uniqueName("crud");
    const created = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code: "def handler(e, c):\n    return 1\n" });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, name);
    assert.equal(created.body.version, 1);
    assert.equal(created.body.code, undefined, "put answers a summary, without the code");
    const updated = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { name, runtime: "nodejs", code: JS, limits: { timeoutMs: 500 } });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.version, 2);

    const latest = await http(g.httpUrl, "GET", `/v1/functions/${name}`);
    assert.equal(latest.status, 200);
    assert.equal(latest.body.version, 2);
    assert.equal(latest.body.code, JS);
    const v1 = await http(g.httpUrl, "GET", `/v1/functions/${name}?version=1`);
    assert.equal(v1.body.runtime, "python3.13", "the alias resolved to the exact runtime at deploy");
    const list = await http(g.httpUrl, "GET", "/v1/functions");
    assert.ok(list.body.functions.some((f: { name: string; version: number }) => f.name === name && f.version === 2));

    const deleted = await http(g.httpUrl, "DELETE", `/v1/functions/${name}`);
    assert.deepEqual(deleted.body, { name, deleted: true });
    assert.equal((await http(g.httpUrl, "GET", `/v1/functions/${name}`)).status, 404);
    const gone = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, {});
    assert.equal(gone.status, 404, "a deleted function stops taking invocations at once");
    assert.equal(gone.body.error.code, "NOT_FOUND");
  });

  test("a function can be invoked through this gateway as soon as its PUT answers", async () => {
    for (let i = 0; i < 5; i++) {
      const name = uniqueName("ryw");
      await deploy(name);
      const res = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, { i });
      assert.equal(res.status, 200, `round ${i}: ${JSON.stringify(res.body)}`);
    }
  });
});

describe("invocation", () => {
  test("sync: 200 with the agent's result object; the job carries the raw event and the contract headers", async () => {
    const name = uniqueName("sync");
    const deployed = await deploy(name);
    const raw = '{ "name" :"weft",\n "list": [1, 2.50] }';
    const res = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, raw);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, "ok");
    assert.deepEqual(res.body.output, { echo: { name: "weft", list: [1, 2.5] } });
    assert.equal(res.headers.get(HEADERS.invocationId), res.body.invocationId);

    const job = jobOf(res.body.invocationId)!;
    assert.equal(job.subject, `weft.jobs.${name}`);
    assert.equal(job.data, raw, "the event reaches the agent byte for byte");
    assert.equal(job.headers[HEADERS.msgId], res.body.invocationId, "de-duplicated by invocation id");
    assert.match(job.headers[HEADERS.replyTo]!, /^_INBOX\.weft\.[A-Za-z0-9_-]+\.[0-9a-f-]{36}$/);
    assert.match(job.headers[HEADERS.traceparent]!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    const enqueuedAt = Number(job.headers[HEADERS.enqueuedAt]);
    assert.ok(Math.abs(Date.now() - enqueuedAt) < 10_000, `enqueued-at ${enqueuedAt} is epoch ms`);
    assert.equal(job.headers[HEADERS.version], "1", "the gateway sends the version it resolved, so a redelivery runs the same one");
    assert.equal(job.headers[HEADERS.incarnation], deployed.incarnation, "and the function's incarnation");
  });

  test("a caller's traceparent is continued: the job carries the caller's trace id", async () => {
    const name = uniqueName("trace");
    await deploy(name);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, {}, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    assert.equal(res.status, 200);
    assert.equal(jobOf(res.body.invocationId)!.headers[HEADERS.traceparent]!.split("-")[1], traceId);
    const fresh = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, {});
    assert.notEqual(jobOf(fresh.body.invocationId)!.headers[HEADERS.traceparent]!.split("-")[1], traceId, "without one, a new trace");
  });

  test("an empty body is the event {}", async () => {
    const name = uniqueName("empty");
    await deploy(name);
    const res = await fetch(`${g.httpUrl}/v1/functions/${name}/invoke`, { method: "POST" });
    const body = (await res.json()) as any;
    assert.equal(res.status, 200);
    assert.deepEqual(body.output, { echo: {} });
  });

  test("a pinned version travels in Weft-Version; a version that does not exist is 404", async () => {
    const name = uniqueName("pin");
    await deploy(name);
    await deploy(name, { runtime: "nodejs", code: `${JS} // v2` });
    const pinned = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke?version=1`, {});
    assert.equal(pinned.status, 200);
    assert.equal(jobOf(pinned.body.invocationId)!.headers[HEADERS.version], "1");
    const missing = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke?version=7`, {});
    assert.equal(missing.status, 404);
    assert.match(missing.body.error.message, /version 7/);
  });

  test("async: 202 queued, the job is stored, the queued record carries the event and reads back", async () => {
    const name = uniqueName("async");
    await deploy(name);
    const res = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke?async=true`, { name: "later" });
    assert.equal(res.status, 202);
    assert.equal(res.body.status, "queued");
    const id = res.body.invocationId;
    await until(() => jobOf(id) !== undefined, "the job reaching the agent");
    await until(() => controller.records.has(id), "the queued record reaching the controller");
    const record = await http(g.httpUrl, "GET", `/v1/invocations/${id}`);
    assert.equal(record.status, 200);
    assert.equal(record.body.functionName, name);
    assert.equal(record.body.async, true);
    assert.deepEqual(record.body.event, { name: "later" });
    const list = await http(g.httpUrl, "GET", `/v1/functions/${name}/invocations?limit=5`);
    assert.equal(list.status, 200);
    assert.equal(list.body.invocations[0].invocationId, id);
    const metrics = await http(g.httpUrl, "GET", `/v1/functions/${name}/metrics?windowMs=60000`);
    assert.equal(metrics.status, 200);
    assert.equal(metrics.body.windowMs, 60000);
  });

  test("a sync call that outlives the gateway's wait answers 202 running with its id", async () => {
    const other = await otherGateway({ WEFT_SYNC_WAIT_MS: "300" });
    try {
      const name = uniqueName("slow");
      await deploy(name);
      await until(() => other.gateway !== undefined, "second gateway");
      const res = await http(other.url, "POST", `/v1/functions/${name}/invoke`, { noReply: true });
      assert.equal(res.status, 202);
      assert.equal(res.body.status, "running");
      assert.ok(jobOf(res.body.invocationId), "the invocation was queued and goes on");
    } finally {
      await other.gateway.stop();
    }
  });

  test("past WEFT_MAX_INFLIGHT calls get 429; a caller hanging up frees its slot", async () => {
    const other = await otherGateway({ WEFT_MAX_INFLIGHT: "1" });
    try {
      const name = uniqueName("busy");
      await deploy(name);
      const first = http(other.url, "POST", `/v1/functions/${name}/invoke`, { delayMs: 400 });
      await until(() => responder.jobs.some((j) => j.subject === `weft.jobs.${name}`), "the first call in flight");
      const second = await http(other.url, "POST", `/v1/functions/${name}/invoke`, {});
      assert.equal(second.status, 429);
      assert.equal(second.body.error.code, "RESOURCE_EXHAUSTED");
      assert.equal(second.headers.get("retry-after"), "1", "a shed call says when to retry");
      assert.equal((await first).status, 200);

      const hangUp = new AbortController();
      const abandoned = fetch(`${other.url}/v1/functions/${name}/invoke`, { method: "POST", body: '{"noReply": true}', signal: hangUp.signal });
      await until(() => responder.jobs.filter((j) => j.subject === `weft.jobs.${name}`).length === 2, "the abandoned call in flight");
      hangUp.abort();
      await assert.rejects(abandoned);
      await until(async () => (await http(other.url, "POST", `/v1/functions/${name}/invoke`, {})).status === 200, "a free slot after the hang-up");
    } finally {
      await other.gateway.stop();
    }
  });
});

describe("sync admission follows the agents' slots", () => {
  test("past twice the running agents' slots (at least 8) a sync call gets 429; async calls still queue; no agent known, no bound", async () => {
    const other = await otherGateway({ WEFT_MAX_INFLIGHT: "256" });
    const agentId = uniqueName("slots-agent");
    const beat = (state: string) =>
      g.nc.publish(AGENT_HEARTBEAT_SUBJECT, JSON.stringify({ agentId, host: "h", state, slots: 5, busy: 0, containers: 0, stemCells: 0, at: Date.now() }));
    try {
      const name = uniqueName("slots");
      await deploy(name);
      beat("running");
      await until(async () => (await http(other.url, "GET", `/v1/agents/${agentId}`)).status === 200, "the gateway heard the agent");
      // Five slots: a call running in each and one waiting for it.
      const held = Array.from({ length: 10 }, () => http(other.url, "POST", `/v1/functions/${name}/invoke`, { delayMs: 1500 }));
      await until(() => responder.jobs.filter((j) => j.subject === `weft.jobs.${name}`).length === 10, "ten sync calls in flight");
      const shed = await http(other.url, "POST", `/v1/functions/${name}/invoke`, {});
      assert.equal(shed.status, 429, JSON.stringify(shed.body));
      assert.equal(shed.body.error.code, "RESOURCE_EXHAUSTED");
      const queued = await http(other.url, "POST", `/v1/functions/${name}/invoke?async=true`, {});
      assert.equal(queued.status, 202, "an async call is queued whatever the slots");
      // The agent stops: no capacity is known any more, and the gateway queues sync calls again (up to WEFT_MAX_INFLIGHT).
      beat("stopped");
      await until(async () => (await http(other.url, "GET", `/v1/agents/${agentId}`)).status === 404, "the gateway forgot the agent");
      const admitted = await http(other.url, "POST", `/v1/functions/${name}/invoke`, {});
      assert.equal(admitted.status, 200, JSON.stringify(admitted.body));
      for (const r of await Promise.all(held)) assert.equal(r.status, 200);
    } finally {
      beat("stopped");
      await other.gateway.stop();
    }
  });
});

describe("bad input", () => {
  test("is refused with a 4xx naming the field, never a 5xx", async () => {
    const name = uniqueName("bad");
    await deploy(name);
    const spec = { runtime: "python3", code: "def handler(e, c):\n    return 1\n" };
    const cases: Array<[string, string, unknown, number, string | undefined]> = [
      ["PUT", "/v1/functions/Bad_Name", spec, 400, "name"],
      ["PUT", `/v1/functions/${"x".repeat(64)}`, spec, 400, "name"],
      ["PUT", `/v1/functions/${name}`, { ...spec, runtime: "cobol" }, 400, "runtime"],
      ["PUT", `/v1/functions/${name}`, { runtime: "python3" }, 400, "code"],
      ["PUT", `/v1/functions/${name}`, { ...spec, code: "" }, 400, "code"],
      ["PUT", `/v1/functions/${name}`, { ...spec, limits: { timeoutMs: -1 } }, 400, "limits.timeoutMs"],
      ["PUT", `/v1/functions/${name}`, { ...spec, limits: { memoryMb: 1e9 } }, 400, "limits.memoryMb"],
      ["PUT", `/v1/functions/${name}`, { ...spec, isolation: "kvm" }, 400, "isolation"],
      ["PUT", `/v1/functions/${name}`, { ...spec, env: { WEFT_X: "1" } }, 400, "env"],
      ["PUT", `/v1/functions/${name}`, { ...spec, surprise: 1 }, 400, "surprise"],
      ["PUT", `/v1/functions/${name}`, { ...spec, name: "other-name" }, 400, "name"],
      ["PUT", `/v1/functions/${name}`, [spec], 400, "body"],
      ["PUT", `/v1/functions/${name}`, "{nope", 400, "body"],
      ["PUT", `/v1/functions/${name}`, " ", 400, "body"],
      ["POST", `/v1/functions/${name}/invoke`, "{nope", 400, "event"],
      ["POST", `/v1/functions/${name}/invoke?async=maybe`, {}, 400, "async"],
      ["POST", `/v1/functions/${name}/invoke?version=0`, {}, 400, "version"],
      ["POST", `/v1/functions/${name}/invoke?version=1e3`, {}, 400, "version"],
      ["POST", `/v1/functions/${uniqueName("nope")}/invoke`, {}, 404, undefined],
      ["POST", "/v1/functions/Nope/invoke", {}, 400, "name"],
      ["GET", `/v1/functions/${name}/invocations?limit=zero`, undefined, 400, "limit"],
      ["GET", `/v1/functions/${name}/invocations?limit=0`, undefined, 400, "limit"],
      ["GET", `/v1/functions/${name}/invocations?limit=5000`, undefined, 400, "limit"],
      ["GET", `/v1/functions/${name}/metrics?windowMs=5`, undefined, 400, "windowMs"],
      ["GET", `/v1/functions/${name}?version=x`, undefined, 400, "version"],
      ["GET", `/v1/invocations/${"x".repeat(200)}`, undefined, 400, "id"],
      ["GET", "/v1/invocations/does-not-exist", undefined, 404, undefined],
      ["GET", "/v1/functions/%E0%A4%A", undefined, 400, "name"],
      // Unknown API paths; other unknown paths are the web console's pages (its index.html).
      ["GET", "/v1/nowhere", undefined, 404, undefined],
    ];
    for (const [method, path, body, status, field] of cases) {
      const res = await http(g.httpUrl, method, path, body);
      const what = `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)} → ${res.status} ${JSON.stringify(res.body)}`;
      assert.equal(res.status, status, what);
      assert.equal(typeof res.body.error.code, "string", what);
      assert.equal(typeof res.body.error.message, "string", what);
      assert.equal(res.body.error.field, field, what);
    }
  });

  test("a wrong method is 405 with Allow; a compressed body is 415", async () => {
    const res = await http(g.httpUrl, "GET", `/v1/functions/any/invoke`);
    assert.equal(res.status, 405);
    assert.equal(res.body.error.code, "METHOD_NOT_ALLOWED");
    assert.equal(res.headers.get("allow"), "POST");
    const gz = await http(g.httpUrl, "POST", `/v1/functions/any/invoke`, "{}", { "content-encoding": "gzip" });
    assert.equal(gz.status, 415);
    assert.equal(gz.body.error.code, "UNSUPPORTED_MEDIA_TYPE");
  });

  test("an event over 6 MB and a PUT over 10 MB are 413, declared or streamed; the gateway stays up", async () => {
    const name = uniqueName("big");
    await deploy(name);
    const event = JSON.stringify({ pad: "x".repeat(LIMITS.payloadBytes) });
    const declared = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, event);
    assert.equal(declared.status, 413);
    assert.equal(declared.body.error.code, "PAYLOAD_TOO_LARGE");
    assert.equal(declared.body.error.field, "event");

    const streamed = await streamBody(`/v1/functions/${name}/invoke`, "POST", Buffer.from(event));
    assert.equal(streamed.status, 413, "a chunked body is cut off once it passes the limit");

    const put = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: "x".repeat(LIMITS.functionBodyBytes) });
    assert.equal(put.status, 413);
    const bigCode = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: "x".repeat(LIMITS.codeBytes + 1) });
    assert.equal(bigCode.status, 413, "code over its own limit, inside a body under the PUT limit");
    assert.equal(bigCode.body.error.field, "code");

    const justUnder = JSON.stringify({ pad: "x".repeat(LIMITS.payloadBytes - 100) });
    const ok = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, justUnder);
    assert.equal(ok.status, 200, "an event just under the limit goes through");
  });
});

describe("controller absent", () => {
  test("CRUD, records and metrics answer 503 UNAVAILABLE; invocations go on", async () => {
    const name = uniqueName("noctl");
    await deploy(name);
    controller.stop();
    try {
      for (const [method, path, body] of [
        ["PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS }],
        ["GET", "/v1/functions", undefined],
        ["GET", `/v1/functions/${name}`, undefined],
        ["DELETE", `/v1/functions/${name}`, undefined],
        ["GET", `/v1/invocations/some-id`, undefined],
        ["GET", `/v1/functions/${name}/metrics`, undefined],
      ] as const) {
        const res = await http(g.httpUrl, method, path, body);
        assert.equal(res.status, 503, `${method} ${path}`);
        assert.equal(res.body.error.code, "UNAVAILABLE");
      }
      const invoked = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, { still: "works" });
      assert.equal(invoked.status, 200, "the hot path does not need the controller");
    } finally {
      controller = await new FakeController(g.nc, g.kv).start();
    }
  });
});

/** Sends a body with chunked transfer encoding (no Content-Length), as a streaming client would. */
function streamBody(path: string, method: string, body: Buffer): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${g.httpUrl}${path}`, { method, headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    const chunk = 256 * 1024;
    const writeMore = (offset: number) => {
      if (offset >= body.length) return req.end();
      if (req.destroyed) return;
      req.write(body.subarray(offset, offset + chunk), () => writeMore(offset + chunk));
    };
    writeMore(0);
  });
}
