// The NATS front door on a real nats-server: request (result straight from the agent), request with
// Weft-Async, plain publish (queued), and error replies for bad input.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { startGateway } from "../gateway/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { HEADERS } from "../shared/headers.js";
import { invokeSubject } from "../shared/subjects.js";
import {
  FakeController,
  Responder,
  startGatewayUnderTest,
  testLog,
  uniqueName,
  until,
  type GatewayUnderTest,
} from "./gateway-fixtures.js";

let g: GatewayUnderTest;
let responder: Responder;
let controller: FakeController;

before(async () => {
  g = await startGatewayUnderTest();
  responder = await new Responder(g.nc).start();
  controller = await new FakeController(g.nc, g.kv).start();
});

after(async () => {
  responder?.stop();
  controller?.stop();
  await g?.stop();
});

async function deploy(name: string): Promise<void> {
  const reply = await g.nc.request("weft.ctl.functions.put", JSON.stringify({ name, spec: { runtime: "nodejs", code: "exports.handler = (e) => e" } }));
  assert.equal(reply.json<{ ok: boolean }>().ok, true);
  await until(async () => (await g.kv.get(name))?.operation === "PUT", "the definition in the bucket");
  // The gateway's cache follows the bucket; a request for a missing function answers NOT_FOUND until it does.
  await until(async () => {
    const r = await g.nc.request(invokeSubject(name), JSON.stringify({ probe: true }), { timeout: 5000 });
    return r.headers?.get(HEADERS.errorCode) !== "NOT_FOUND";
  }, "the gateway seeing the function");
}

const jobsFor = (name: string) => responder.jobs.filter((j) => j.subject === `weft.jobs.${name}`);

test("a request gets the result object from the agent, which answers the caller's own inbox", async () => {
  const name = uniqueName("nreq");
  await deploy(name);
  const reply = await g.nc.request(invokeSubject(name), JSON.stringify({ hello: "nats" }), { timeout: 5000 });
  const result = reply.json<any>();
  assert.equal(result.status, "ok");
  assert.deepEqual(result.output, { echo: { hello: "nats" } });
  const job = responder.jobs.find((j) => j.headers[HEADERS.invocationId] === result.invocationId)!;
  assert.match(job.headers[HEADERS.replyTo]!, /^_INBOX\./, "the agent answers the requester directly");
  assert.ok(!job.headers[HEADERS.replyTo]!.startsWith("_INBOX.weft."), "not through the gateway's inbox");
});

test("a request with Weft-Async gets {invocationId, queued} once stored; the record carries the event", async () => {
  const name = uniqueName("nasync");
  await deploy(name);
  const h = natsHeaders();
  h.set(HEADERS.async, "true");
  const reply = await g.nc.request(invokeSubject(name), JSON.stringify({ later: 1 }), { timeout: 5000, headers: h });
  const accepted = reply.json<any>();
  assert.equal(accepted.status, "queued");
  await until(() => responder.jobs.some((j) => j.headers[HEADERS.invocationId] === accepted.invocationId), "the job");
  await until(() => controller.records.has(accepted.invocationId), "the queued record");
  assert.deepEqual(controller.records.get(accepted.invocationId)!.event, { later: 1 });
  assert.equal(controller.records.get(accepted.invocationId)!.async, true);
});

test("a plain publish is queued; an invalid one is dropped (and logged), not queued", async () => {
  const name = uniqueName("npub");
  await deploy(name);
  const before = jobsFor(name).length;
  g.nc.publish(invokeSubject(name), "not json");
  g.nc.publish(invokeSubject(name), JSON.stringify({ marker: "published" }));
  await until(() => jobsFor(name).some((j) => j.data.includes("published")), "the published job");
  const jobs = jobsFor(name).slice(before);
  assert.equal(jobs.length, 1, "only the valid publish became a job");
  assert.equal(jobs[0]!.headers[HEADERS.replyTo], undefined, "nobody waits for a plain publish");
});

test("a pinned version travels from the Weft-Version header", async () => {
  const name = uniqueName("npin");
  await deploy(name);
  await deploy(name);
  const h = natsHeaders();
  h.set(HEADERS.version, "1");
  const result = (await g.nc.request(invokeSubject(name), "{}", { timeout: 5000, headers: h })).json<any>();
  assert.equal(responder.jobs.find((j) => j.headers[HEADERS.invocationId] === result.invocationId)!.headers[HEADERS.version], "1");
});

test("bad input on a request is an error object with Weft-Error-Code", async () => {
  const name = uniqueName("nbad");
  await deploy(name);
  const badVersion = natsHeaders();
  badVersion.set(HEADERS.version, "one");
  const cases: Array<[string, string | Uint8Array, string, string | undefined, typeof badVersion | undefined]> = [
    [invokeSubject(uniqueName("missing")), "{}", "NOT_FOUND", undefined, undefined],
    [invokeSubject(name), "not json", "INVALID_ARGUMENT", "event", undefined],
    [invokeSubject("Bad_Name"), "{}", "INVALID_ARGUMENT", "name", undefined],
    [invokeSubject(name), new Uint8Array(7 * 1024 * 1024).fill(0x20), "PAYLOAD_TOO_LARGE", "event", undefined],
    [invokeSubject(name), "{}", "INVALID_ARGUMENT", HEADERS.version, badVersion],
  ];
  for (const [subject, data, code, field, headers] of cases) {
    const reply = await g.nc.request(subject, data, { timeout: 5000, ...(headers ? { headers } : {}) });
    const body = reply.json<any>();
    assert.equal(body.error.code, code, `${subject}: ${JSON.stringify(body)}`);
    assert.equal(body.error.field, field, `${subject}: ${JSON.stringify(body)}`);
    assert.equal(reply.headers?.get(HEADERS.errorCode), code);
  }
});

test("gateways share weft.invoke.* as a queue group: each request is queued once", async () => {
  const other = await startGateway(
    loadGatewayConfig({ WEFT_NATS_URL: g.nats.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0" }),
    testLog("gateway-2"),
  );
  try {
    const name = uniqueName("nqueue");
    await deploy(name);
    const otherUrl = `http://127.0.0.1:${other.httpPort}/v1/functions/${name}/invoke`;
    await until(async () => (await fetch(otherUrl, { method: "POST", body: "{}" })).status === 200, "the second gateway seeing the function");
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => g.nc.request(invokeSubject(name), JSON.stringify({ i }), { timeout: 5000 }).then((m) => m.json<any>())),
    );
    assert.deepEqual(results.map((r) => r.output.echo.i).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    const counts = new Map<number, number>();
    for (const j of jobsFor(name)) {
      const i = JSON.parse(j.data).i as number | undefined;
      if (i !== undefined) counts.set(i, (counts.get(i) ?? 0) + 1);
    }
    assert.ok([...counts.values()].every((c) => c === 1), "no request was queued twice");
  } finally {
    await other.stop();
  }
});
