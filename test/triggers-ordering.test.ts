// ordering: "perSubject" on a stream trigger: messages of one subject run one at a time, each after the previous
// one's invocation ended, in stream order; different subjects run side by side under maxInFlight > 1.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { RecordTap } from "./harness/record-tap.js";

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

/** Runs for a while (longer for early messages, so a later one would overtake it if nothing held it back). */
const SLOW = `exports.handler = async (event, context) => {
  const start = Date.now();
  await new Promise((r) => setTimeout(r, event.ms));
  return { subject: context.subject, n: event.n, start, end: Date.now() };
};`;

interface Run { subject: string; n: number; start: number; end: number }

function runsOf(fn: string): Run[] {
  return tap.idsStartingWith("").flatMap((id) => tap.finalsOf(id)).filter((r) => r.functionName === fn && r.status === "ok")
    .map((r) => JSON.parse(String((r as { output?: unknown }).output)) as Run);
}

test("perSubject: each subject's messages run one at a time in stream order; subjects run in parallel", async () => {
  const fn = `order-${uid()}`;
  const res = await api("PUT", `/v1/functions/${fn}`, { runtime: "nodejs", code: SLOW, concurrency: 20 });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const stream = `ORD${uid()}`;
  await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
  const put = await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, stream, ordering: "perSubject", maxInFlight: 20 });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  assert.equal(put.body.ordering, "perSubject");

  // Paused while publishing, so the whole backlog is there at once: an unordered trigger would start them together.
  assert.equal((await api("POST", `/v1/triggers/t-${fn}/pause`)).status, 200);
  const subjects = ["a", "b", "c", "d"].map((s) => `${stream}.${s}`);
  const perSubject = 6;
  const js = jetstream(nc);
  for (let n = 0; n < perSubject; n++) {
    for (const s of subjects) await js.publish(s, JSON.stringify({ n, ms: (perSubject - n) * 60 }));
  }
  assert.equal((await api("POST", `/v1/triggers/t-${fn}/resume`)).status, 200);

  const total = subjects.length * perSubject;
  const runs = await eventually(async () => {
    const r = runsOf(fn);
    return r.length >= total ? r : undefined;
  }, `${total} runs`, 120_000, 100);
  assert.equal(runs.length, total, "each message ran once");
  for (const s of subjects) {
    const mine = runs.filter((r) => r.subject === s).sort((x, y) => x.start - y.start);
    assert.deepEqual(mine.map((r) => r.n), [...Array(perSubject).keys()], `${s} ran in stream order`);
    for (let i = 1; i < mine.length; i++) assert.ok(mine[i]!.start >= mine[i - 1]!.end, `${s}: #${i} started after #${i - 1} ended`);
  }
  // Parallel across subjects: some run of one subject overlapped a run of another.
  const overlapping = runs.some((x) => runs.some((y) => x.subject !== y.subject && x.start < y.end && y.start < x.end));
  assert.ok(overlapping, "different subjects ran side by side");
  const counters = await eventually(async () => {
    const c = (await api("GET", `/v1/triggers/t-${fn}`)).body.counters;
    return c.delivered === total && c.lag === 0 ? c : undefined;
  }, "counters settle");
  assert.deepEqual(counters, { delivered: total, failed: 0, lag: 0 });
});

test("ordering: a bad value or together with ordered is a 400 naming ordering; a subject trigger refuses it", async () => {
  const fn = `obad-${uid()}`;
  assert.equal((await api("PUT", `/v1/functions/${fn}`, { runtime: "nodejs", code: SLOW })).status, 201);
  const stream = `OBAD${uid()}`;
  await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
  for (const body of [
    { function: fn, stream, ordering: "global" },
    { function: fn, stream, ordering: "perSubject", ordered: true },
  ]) {
    const r = await api("PUT", `/v1/triggers/t-${fn}`, body);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.field, "ordering", JSON.stringify(r.body));
  }
  const subj = await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, subject: "x.y", ordering: "perSubject" });
  assert.equal(subj.status, 400, JSON.stringify(subj.body));
});

test("an existing stream trigger switched to perSubject keeps its place: nothing runs twice, nothing is skipped", async () => {
  const fn = `oswitch-${uid()}`;
  assert.equal((await api("PUT", `/v1/functions/${fn}`, { runtime: "nodejs", code: SLOW, concurrency: 5 })).status, 201);
  const stream = `OSW${uid()}`;
  await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
  assert.equal((await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, stream })).status, 201);
  const js = jetstream(nc);
  for (let n = 0; n < 3; n++) await js.publish(`${stream}.a`, JSON.stringify({ n, ms: 1 }));
  await eventually(async () => (runsOf(fn).length >= 3 ? true : undefined), "3 runs before the switch");
  const switched = await api("PUT", `/v1/triggers/t-${fn}`, { function: fn, stream, ordering: "perSubject" });
  assert.equal(switched.status, 200, JSON.stringify(switched.body));
  for (let n = 3; n < 6; n++) await js.publish(`${stream}.a`, JSON.stringify({ n, ms: (6 - n) * 50 }));
  const runs = await eventually(async () => {
    const r = runsOf(fn);
    return r.length >= 6 ? r : undefined;
  }, "6 runs");
  const after = runs.filter((r) => r.n >= 3).sort((x, y) => x.start - y.start);
  assert.deepEqual(after.map((r) => r.n), [3, 4, 5], "in order after the switch");
  for (let i = 1; i < after.length; i++) assert.ok(after[i]!.start >= after[i - 1]!.end, `#${i + 3} started after #${i + 2} ended`);
  assert.deepEqual(runs.map((r) => r.n).sort(), [0, 1, 2, 3, 4, 5], "each once");
});
