// Trigger figures, beside their floors in the same run (README "Triggers"):
//  - throughput from a stream: N messages stored while the trigger is paused, then resumed; until every handler has
//    run. Floor: the same N events sent straight to weft.invoke.{name} as async requests, 200 at a time (no trigger).
//    The raw floor: the same N messages drained from a stream by a plain pull consumer that acks each (no Weft).
//  - end-to-end latency from publish to handler start, one message every 20 ms: a subject trigger, a stream trigger,
//    and the floor, a publish to weft.invoke.{name}. The handler reads the clock first thing (same host) and returns
//    it. The raw floor: a NATS request/reply round trip on the same server.
//  - perSubject ordering: the stream throughput again with ordering "perSubject" over 8 subjects.
// Run: npm run bench:triggers   (WEFT_BENCH_QUICK=1: short)
import { randomBytes } from "node:crypto";
import { connect, headers } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { http, startFabric } from "../harness/fabric.js";
import { eventually } from "../harness/eventually.js";
import { RecordTap } from "../harness/record-tap.js";
import { invokeSubject } from "../../shared/subjects.js";

const QUICK = process.env.WEFT_BENCH_QUICK === "1";
const N = QUICK ? 500 : 2000;
const M = QUICK ? 100 : 300;

const fabric = await startFabric({ agentEnv: { WEFT_AGENT_SLOTS: "32" } });
const nc = await connect({ servers: fabric.nats.url });
const js = jetstream(nc);
const tap = await RecordTap.start(fabric.nats.url);
const api = (method: string, path: string, body?: unknown) => http(fabric.httpUrl, method, path, body);
const tag = randomBytes(3).toString("hex");

try {
  const fn = `bench-${tag}`;
  const code = "exports.handler = async (e) => ({ ...e, th: Date.now() })";
  await must(api("PUT", `/v1/functions/${fn}`, { runtime: "nodejs", code }), 201);
  await (await jetstreamManager(nc)).streams.add({ name: `B${tag}`, subjects: [`b${tag}.>`] });

  const outputs = () => {
    const out: Array<{ kind: string; i: number; t0: number; th: number }> = [];
    for (const id of tap.idsStartingWith("")) for (const r of tap.finalsOf(id)) if (r.functionName === fn && r.status === "ok") out.push(JSON.parse(String(r.output)));
    return out;
  };
  const count = (kind: string) => outputs().filter((o) => o.kind === kind).length;
  const warm = async () => {
    await api("POST", `/v1/functions/${fn}/invoke`, { kind: "warm", i: 0, t0: Date.now() });
  };
  await warm();

  // Throughput: floor first (plain async invocations), then the stream trigger draining the same count.
  let t = performance.now();
  // At most 200 queued at a time (as the stream trigger's maxInFlight): a gateway sheds a burst past WEFT_MAX_INFLIGHT.
  await inWindows(N, 200, (i) => nc.request(invokeSubject(fn), JSON.stringify({ kind: "floor-tp", i, t0: Date.now() }), { timeout: 30_000, headers: asyncHeaders() }));
  await eventually(async () => (count("floor-tp") >= N ? true : undefined), "floor throughput", 300_000, 50);
  const floorRate = N / ((performance.now() - t) / 1000);

  await must(api("PUT", "/v1/triggers/bench-stream", { function: fn, stream: `B${tag}`, filterSubject: `b${tag}.tp`, maxInFlight: 200 }), 201);
  await must(api("POST", "/v1/triggers/bench-stream/pause"), 200);
  for (let i = 0; i < N; i++) await js.publish(`b${tag}.tp`, JSON.stringify({ kind: "stream-tp", i, t0: Date.now() }));
  t = performance.now();
  await must(api("POST", "/v1/triggers/bench-stream/resume"), 200);
  await eventually(async () => (count("stream-tp") >= N ? true : undefined), "stream throughput", 300_000, 50);
  const streamRate = N / ((performance.now() - t) / 1000);

  // perSubject: the same backlog spread over 8 subjects, each run one at a time in order.
  await must(api("PUT", "/v1/triggers/bench-ordered", { function: fn, stream: `B${tag}`, filterSubject: `b${tag}.ord.*`, ordering: "perSubject", maxInFlight: 200 }), 201);
  await must(api("POST", "/v1/triggers/bench-ordered/pause"), 200);
  for (let i = 0; i < N; i++) await js.publish(`b${tag}.ord.${i % 8}`, JSON.stringify({ kind: "ordered-tp", i, t0: Date.now() }));
  t = performance.now();
  await must(api("POST", "/v1/triggers/bench-ordered/resume"), 200);
  await eventually(async () => (count("ordered-tp") >= N ? true : undefined), "perSubject throughput", 600_000, 50);
  const orderedRate = N / ((performance.now() - t) / 1000);

  // The raw floors: a stream drained by a plain consumer, and a NATS round trip.
  const rawRate = await rawStreamDrain(`R${tag}`, N);
  const rawRtt = await rawRoundTrip(`rt${tag}`, M);

  // Latency, paced.
  await must(api("PUT", "/v1/triggers/bench-lat", { function: fn, stream: `B${tag}`, filterSubject: `b${tag}.lat` }), 201);
  await must(api("PUT", "/v1/triggers/bench-subject", { function: fn, subject: `s${tag}.lat` }), 201);
  const pace = async (kind: string, send: (body: string) => Promise<unknown> | void) => {
    for (let i = 0; i < M; i++) {
      await send(JSON.stringify({ kind, i, t0: Date.now() }));
      await new Promise((r) => setTimeout(r, 20));
    }
    await eventually(async () => (count(kind) >= M ? true : undefined), kind, 120_000, 50);
    return pct(outputs().filter((o) => o.kind === kind).map((o) => o.th - o.t0));
  };
  const floorLat = await pace("floor-lat", (b) => nc.publish(invokeSubject(fn), b));
  const subjectLat = await pace("subject-lat", (b) => nc.publish(`s${tag}.lat`, b));
  const streamLat = await pace("stream-lat", (b) => js.publish(`b${tag}.lat`, b));

  const row = (what: string, v: string, floor: string) => console.log(`| ${what} | ${v} | ${floor} |`);
  console.log(`\ntriggers bench, ${new Date().toISOString()}, N=${N} M=${M}, load ${(await import("node:os")).loadavg()[0]!.toFixed(1)}`);
  console.log("| what | measured | floor in the same run |\n| --- | --- | --- |");
  row("throughput from a stream", `${streamRate.toFixed(0)} inv/s`, `async publishes to weft.invoke: ${floorRate.toFixed(0)} inv/s (ratio ${(streamRate / floorRate).toFixed(2)}); raw: the stream drained by a plain consumer, ${rawRate.toFixed(0)} msg/s`);
  row("throughput, ordering perSubject (8 subjects)", `${orderedRate.toFixed(0)} inv/s`, `(same floors; ratio to the unordered trigger ${(orderedRate / streamRate).toFixed(2)})`);
  row("publish → handler start, stream trigger, p50 / p99", `${streamLat.p50} / ${streamLat.p99} ms`, `publish to weft.invoke: ${floorLat.p50} / ${floorLat.p99} ms; raw NATS round trip: ${rawRtt.p50.toFixed(2)} / ${rawRtt.p99.toFixed(2)} ms`);
  row("publish → handler start, subject trigger, p50 / p99", `${subjectLat.p50} / ${subjectLat.p99} ms`, "(same floors)");
} finally {
  await nc.close();
  await fabric.stop();
}

function asyncHeaders() {
  const h = headers();
  h.set("Weft-Async", "true");
  return h;
}

/** Runs `n` calls of `one`, at most `window` at a time. */
async function inWindows(n: number, window: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: window }, async () => {
    while (next < n) await one(next++);
  }));
}

/** Messages per second a plain pull consumer drains (and acks) from a stream holding n of them. */
async function rawStreamDrain(stream: string, n: number): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`] });
  for (let i = 0; i < n; i++) await js.publish(`${stream.toLowerCase()}.x`, JSON.stringify({ i, t0: Date.now() }));
  await jsm.consumers.add(stream, { durable_name: "raw", ack_policy: AckPolicy.Explicit });
  const consumer = await js.consumers.get(stream, "raw");
  const t0 = performance.now();
  let seen = 0;
  const messages = await consumer.consume({ max_messages: 200 });
  for await (const m of messages) {
    m.ack();
    if (++seen >= n) break;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  await jsm.streams.delete(stream);
  return rate;
}

/** A NATS request/reply round trip on the fabric's server, one every 20 ms: ms, fractional. */
async function rawRoundTrip(subject: string, m: number): Promise<{ p50: number; p99: number }> {
  const sub = nc.subscribe(subject, { callback: (_e, msg) => void msg.respond(msg.data) });
  const xs: number[] = [];
  for (let i = 0; i < m; i++) {
    const t0 = performance.now();
    await nc.request(subject, "x", { timeout: 5000 });
    xs.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  sub.unsubscribe();
  return pct(xs);
}

function pct(xs: number[]): { p50: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

async function must(p: Promise<{ status: number; body: unknown }>, status: number): Promise<void> {
  const r = await p;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
}
