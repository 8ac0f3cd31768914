// /healthz, the gateway's lifecycle, and NATS going away: 503/UNAVAILABLE at once, no crash, recovery after.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { startGateway } from "../gateway/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { toProtoValue } from "../gateway/json-value.js";
import { AGENT_PING_SUBJECT } from "../shared/subjects.js";
import type { AgentStatus } from "../shared/schemas/agent.js";
import {
  FakeController,
  Responder,
  grpcCall,
  grpcClients,
  grpcError,
  heartbeats,
  http,
  startGatewayUnderTest,
  testLog,
  uniqueName,
  until,
  type GatewayUnderTest,
} from "./gateway-fixtures.js";

const JS = "exports.handler = async (e) => e";

let g: GatewayUnderTest;

before(async () => {
  g = await startGatewayUnderTest({ WEFT_AGENT_SEEN_MS: "1500" });
});

after(async () => {
  await g?.stop();
});

test("healthz: 503 naming what is missing until an agent runs, then 200; the controller is reported, not required", async () => {
  const none = await http(g.httpUrl, "GET", "/healthz");
  assert.equal(none.status, 503);
  assert.equal(none.body.status, "unavailable");
  assert.equal(none.body.nats, "ok");
  assert.equal(none.body.controller, "unavailable");
  assert.ok(none.body.missing.some((m: string) => m.startsWith("agents")), JSON.stringify(none.body));

  const agentId = uniqueName("agent");
  const beat = await heartbeats(g.nc, agentId);
  try {
    const ok = await http(g.httpUrl, "GET", "/healthz");
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.status, "ok");
    assert.equal(ok.body.agents[0].agentId, agentId);
    assert.equal(ok.body.missing, undefined);

    const controller = await new FakeController(g.nc, g.kv).start();
    const withController = await http(g.httpUrl, "GET", "/healthz");
    controller.stop();
    assert.equal(withController.body.controller, "ok");
    assert.equal(withController.body.mongo, "ok");
  } finally {
    beat.stop();
  }
});

test("healthz: an agent answering a ping counts; a draining or stopped one does not", async () => {
  await until(async () => (await http(g.httpUrl, "GET", "/healthz")).status === 503, "earlier agents to go stale", 5000);
  const agentId = uniqueName("pinged");
  let state: AgentStatus["state"] = "running";
  const status = (): AgentStatus => ({ agentId, host: "t", state, slots: 1, busy: 0, containers: 0, stemCells: 0, at: Date.now() });
  const ping = g.nc.subscribe(AGENT_PING_SUBJECT, { callback: (_e, m) => { m.respond(JSON.stringify(status())); } });
  // The server must have the subscription before the gateway pings, or the ping finds no agent.
  await g.nc.flush();
  try {
    const pinged = await http(g.httpUrl, "GET", "/healthz");
    assert.equal(pinged.status, 200, JSON.stringify(pinged.body));
    assert.equal(pinged.body.agents[0].agentId, agentId);
    state = "draining";
    g.nc.publish("weft.agents.heartbeat", JSON.stringify(status()));
    await until(async () => (await http(g.httpUrl, "GET", "/healthz")).status === 503, "the draining agent no longer counting");
    state = "stopped";
    g.nc.publish("weft.agents.heartbeat", JSON.stringify(status()));
    ping.unsubscribe();
    await until(async () => (await http(g.httpUrl, "GET", "/healthz")).body.agents.length === 0, "the stopped agent forgotten");
  } finally {
    if (!ping.isClosed()) ping.unsubscribe();
  }
});

test("stop() lets an in-flight call finish, then refuses; a second stop() is the same promise", async () => {
  const responder = await new Responder(g.nc).start();
  const controller = await new FakeController(g.nc, g.kv).start();
  const gateway = await startGateway(
    loadGatewayConfig({ WEFT_NATS_URL: g.nats.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0" }),
    testLog("gateway-stop"),
  );
  try {
    const url = `http://127.0.0.1:${gateway.httpPort}`;
    const name = uniqueName("drain");
    assert.equal((await http(url, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS })).status, 201);
    const inFlight = http(url, "POST", `/v1/functions/${name}/invoke`, { delayMs: 300 });
    await until(() => responder.jobs.some((j) => j.subject === `weft.jobs.${name}`), "the call in flight");
    const stopping = gateway.stop();
    assert.equal(gateway.stop(), stopping, "stop is idempotent");
    const res = await inFlight;
    assert.equal(res.status, 200, "the in-flight call got its result");
    assert.deepEqual(res.body.output, { echo: { delayMs: 300 } });
    await stopping;
    await assert.rejects(fetch(`${url}/healthz`), "no longer listening");
  } finally {
    responder.stop();
    controller.stop();
    await gateway.stop();
  }
});

test("NATS down: 503/UNAVAILABLE at once over HTTP and gRPC, the gateway keeps running and recovers", async () => {
  let responder = await new Responder(g.nc).start();
  let controller = await new FakeController(g.nc, g.kv).start();
  const grpc = grpcClients(g.grpcAddress);
  const name = uniqueName("ndown");
  try {
    assert.equal((await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS })).status, 201);
    assert.equal((await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 1 })).status, 200);
    responder.stop();
    controller.stop();

    await g.nats.stop();
    const started = Date.now();
    const down = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 2 });
    assert.equal(down.status, 503);
    assert.equal(down.body.error.code, "UNAVAILABLE");
    assert.ok(Date.now() - started < 1000, `503 came in ${Date.now() - started} ms, not after a timeout`);
    const asyncDown = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke?async=true`, { n: 2 });
    assert.equal(asyncDown.status, 503);
    assert.equal((await http(g.httpUrl, "GET", "/v1/functions")).status, 503);
    const health = await http(g.httpUrl, "GET", "/healthz");
    assert.equal(health.status, 503);
    assert.equal(health.body.nats, "unavailable");
    const grpcDown = await grpcError(grpcCall(grpc.invocations, "Invoke", { name, event: toProtoValue({ n: 2 }, "event") }));
    assert.equal(grpcDown.code, GrpcStatus.UNAVAILABLE);
    assert.equal((await grpcError(grpcCall(grpc.functions, "ListFunctions", {}))).code, GrpcStatus.UNAVAILABLE);

    await g.nats.restart();
    // JetStream needs a moment after a restart to recover its streams; the stand-ins retry until it answers.
    await until(async () => {
      try {
        responder = await new Responder(g.nc).start();
        controller = await new FakeController(g.nc, g.kv).start();
        return true;
      } catch {
        return false;
      }
    }, "JetStream back for the stand-ins", 30_000);
    await until(async () => (await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 3 })).status === 200, "invocations after NATS returns", 30_000);

    const after = uniqueName("after");
    assert.equal((await http(g.httpUrl, "PUT", `/v1/functions/${after}`, { runtime: "nodejs", code: JS })).status, 201);
    const res = await http(g.httpUrl, "POST", `/v1/functions/${after}/invoke`, { n: 4 });
    assert.equal(res.status, 200, `the function watch survived the outage: ${JSON.stringify(res.body)}`);
  } finally {
    grpc.close();
    responder.stop();
    controller.stop();
    // A failure while NATS was down must not leave it down for the tests after this one.
    if (!g.nats.isRunning()) await g.nats.restart();
  }
});

test("stop() finishes with NATS down", async () => {
  const gateway = await startGateway(
    loadGatewayConfig({ WEFT_NATS_URL: g.nats.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0" }),
    testLog("gateway-stop-down"),
  );
  await g.nats.stop();
  try {
    const started = Date.now();
    await gateway.stop();
    assert.ok(Date.now() - started < 8000, `stop took ${Date.now() - started} ms`);
  } finally {
    await g.nats.restart();
  }
});
