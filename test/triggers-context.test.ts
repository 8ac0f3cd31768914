// A trigger's message reaches the handler: its data as the event, its subject and headers as context.subject and
// context.headers, in Python, Node.js and TypeScript, through subject and stream triggers, on a retry and on a
// re-driven dead letter. Headers past the limits are refused (counted failed), never cut or passed whole.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { RecordTap } from "./harness/record-tap.js";
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

/** Each returns {event, subject, headers} as its runtime's context shows them. */
const ECHO = {
  python3: "def handler(event, context):\n    return {'event': event, 'subject': context.subject, 'headers': context.headers}\n",
  nodejs: "exports.handler = async (event, context) => ({ event, subject: context.subject ?? null, headers: context.headers });\n",
  typescript: "export const handler = async (event: unknown, context: { subject?: string; headers: Record<string, string> }) =>\n  ({ event, subject: context.subject ?? null, headers: context.headers });\n",
} as const;

interface Echoed {
  event: unknown;
  subject: string | null;
  headers: Record<string, string>;
}

async function deploy(name: string, runtime: keyof typeof ECHO | "python3", extra: object = {}, code: string = ECHO[runtime]): Promise<void> {
  const res = await api("PUT", `/v1/functions/${name}`, { runtime, code, ...extra });
  assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
}

function finalsOf(fn: string) {
  return tap.idsStartingWith("").flatMap((id) => tap.finalsOf(id)).filter((r) => r.functionName === fn);
}

function outputsOf(fn: string): Echoed[] {
  return finalsOf(fn).filter((r) => r.status === "ok").map((r) => JSON.parse(String((r as { output?: unknown }).output ?? "null")) as Echoed);
}

const waitOutputs = (fn: string, n: number) =>
  eventually(async () => {
    const o = outputsOf(fn);
    return o.length >= n ? o : undefined;
  }, `${n} outputs of ${fn}`, 60_000);

function orderHeaders(order: string) {
  const h = natsHeaders();
  h.set("Order-Id", order);
  h.append("X-Tag", "a");
  h.append("X-Tag", "b");
  h.set("Content-Type", "application/json");
  return h;
}

for (const runtime of ["python3", "nodejs", "typescript"] as const) {
  test(`${runtime}: a subject trigger's message headers and subject reach the handler's context`, async () => {
    const fn = `hdr-${runtime}-${uid()}`;
    await deploy(fn, runtime);
    const prefix = `hdr${uid()}`;
    assert.equal((await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, subject: `${prefix}.*` })).status, 201);
    nc.publish(`${prefix}.eu`, JSON.stringify({ n: 1 }), { headers: orderHeaders("42") });
    nc.publish(`${prefix}.us`, JSON.stringify({ n: 2 })); // no headers at all
    const outs = await waitOutputs(fn, 2);
    const withHeaders = outs.find((o) => (o.event as { n: number }).n === 1)!;
    assert.equal(withHeaders.subject, `${prefix}.eu`);
    assert.deepEqual(withHeaders.headers, { "Order-Id": "42", "X-Tag": "a, b", "Content-Type": "application/json" });
    const bare = outs.find((o) => (o.event as { n: number }).n === 2)!;
    assert.equal(bare.subject, `${prefix}.us`);
    assert.deepEqual(bare.headers, {});
  });
}

test("a call that no trigger started sees empty headers and no subject", async () => {
  const fn = `hdr-plain-${uid()}`;
  await deploy(fn, "nodejs");
  const res = await api("POST", `/v1/functions/${fn}/invoke`, { n: 0 });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body.output, { event: { n: 0 }, subject: null, headers: {} });
});

test("a stream trigger's message headers and subject reach the handler's context", async () => {
  const fn = `hdr-stream-${uid()}`;
  await deploy(fn, "python3");
  const stream = `HDR${uid()}`;
  await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
  assert.equal((await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, stream })).status, 201);
  await jetstream(nc).publish(`${stream}.orders.eu`, JSON.stringify({ n: 7 }), { headers: orderHeaders("7") });
  const [out] = await waitOutputs(fn, 1);
  assert.deepEqual(out, { event: { n: 7 }, subject: `${stream}.orders.eu`, headers: { "Order-Id": "7", "X-Tag": "a, b", "Content-Type": "application/json" } });
});

test("headers past the limits: the message is refused and counted failed (subject), terminated (stream); nothing runs", async () => {
  const fn = `hdr-big-${uid()}`;
  await deploy(fn, "python3");
  const subject = `big${uid()}.in`;
  assert.equal((await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, subject })).status, 201);
  const many = natsHeaders();
  for (let i = 0; i <= LIMITS.triggerMessage.headers; i++) many.set(`H-${i}`, "x");
  const large = natsHeaders();
  large.set("Big", "y".repeat(LIMITS.triggerMessage.bytes));
  const fine = natsHeaders();
  fine.set("Ok", "z".repeat(LIMITS.triggerMessage.bytes - 200));
  nc.publish(subject, "1", { headers: many });
  nc.publish(subject, "2", { headers: large });
  nc.publish(subject, "3", { headers: fine });
  const counters = await eventually(async () => {
    const c = (await api("GET", `/v1/triggers/t-${fn}`)).body.counters;
    return c.failed + c.delivered >= 3 ? c : undefined;
  }, "three messages counted");
  assert.deepEqual(counters, { delivered: 1, failed: 2, lag: 0 });
  const [out] = await waitOutputs(fn, 1);
  assert.equal(out!.event, 3);
  assert.equal(out!.headers.Ok!.length, LIMITS.triggerMessage.bytes - 200);

  const stream = `BIG${uid()}`;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  assert.equal((await api("PUT", `/v1/triggers/s-${fn}`, { function: fn, stream })).status, 201);
  await jetstream(nc).publish(`${stream}.x`, "4", { headers: many });
  const sc = await eventually(async () => {
    const c = (await api("GET", `/v1/triggers/s-${fn}`)).body.counters;
    return c.failed >= 1 ? c : undefined;
  }, "the stream message counted failed");
  assert.deepEqual(sc, { delivered: 0, failed: 1, lag: 0 });
  assert.equal((await jsm.consumers.info(stream, `weft-trigger-s-${fn}`)).num_ack_pending, 0, "terminated, not left to redeliver");
  assert.equal(outputsOf(fn).length, 1);
});

test("a retry and a re-driven dead letter see the trigger message's headers again", async () => {
  // Fails on its first attempt (a retry follows) and whenever the event says so (it then ends in dead letters).
  const flaky = "def handler(event, context):\n    if context.attempt == 1 or event.get('fail'):\n        raise RuntimeError('no')\n    return {'event': event, 'subject': context.subject, 'headers': context.headers}\n";
  const fn = `hdr-retry-${uid()}`;
  await deploy(fn, "python3", { async: { maxRetries: 1 } }, flaky);
  const subject = `retry${uid()}.in`;
  assert.equal((await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, subject })).status, 201);
  nc.publish(subject, JSON.stringify({ fail: false }), { headers: orderHeaders("r1") });
  const [retried] = await waitOutputs(fn, 1);
  assert.deepEqual(retried!.headers, { "Order-Id": "r1", "X-Tag": "a, b", "Content-Type": "application/json" });
  const ok = finalsOf(fn).find((r) => r.status === "ok")!;
  assert.equal(ok.attempts?.length, 2, "ran on its retry");

  nc.publish(subject, JSON.stringify({ fail: true }), { headers: orderHeaders("d1") });
  const letter = await eventually(async () => {
    const res = await api("GET", `/v1/functions/${fn}/dead-letters`);
    return res.body.deadLetters?.[0];
  }, "the dead letter");
  assert.deepEqual(letter.message, { subject, headers: { "Order-Id": "d1", "X-Tag": "a, b", "Content-Type": "application/json" } });

  // Fixed: fails on no attempt; the re-driven event runs with the headers it came with.
  await deploy(fn, "python3", { async: { maxRetries: 0 } }, ECHO.python3);
  const redrive = await api("POST", `/v1/functions/${fn}/dead-letters/redrive`, { id: letter.id });
  assert.equal(redrive.status, 200, JSON.stringify(redrive.body));
  const outs = await waitOutputs(fn, 2);
  const again = outs.find((o) => (o.event as { fail: boolean }).fail)!;
  assert.equal(again.subject, subject);
  assert.equal(again.headers["Order-Id"], "d1");
});
