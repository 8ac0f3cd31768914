// Trigger figures, beside their floors in the same run (README "Triggers"):
//  - throughput from a stream: N messages stored while the trigger is paused, then resumed; until every handler has
//    run. Floor: the same N events published straight to weft.invoke.{name} (async invocations, no trigger).
//  - end-to-end latency from publish to handler, one message every 20 ms: a subject trigger, a stream trigger, and the
//    floor, a publish to weft.invoke.{name}. The handler reads the clock (same host) and returns it.
// Run: bash deploy/with-services.sh --quiet -- node --import tsx test/bench/triggers.ts   (WEFT_BENCH_QUICK=1: short)
import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
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
  for (let i = 0; i < N; i++) nc.publish(invokeSubject(fn), JSON.stringify({ kind: "floor-tp", i, t0: Date.now() }));
  await eventually(async () => (count("floor-tp") >= N ? true : undefined), "floor throughput", 300_000, 50);
  const floorRate = N / ((performance.now() - t) / 1000);

  await must(api("PUT", "/v1/triggers/bench-stream", { function: fn, stream: `B${tag}`, filterSubject: `b${tag}.tp`, maxInFlight: 200 }), 201);
  await must(api("POST", "/v1/triggers/bench-stream/pause"), 200);
  for (let i = 0; i < N; i++) await js.publish(`b${tag}.tp`, JSON.stringify({ kind: "stream-tp", i, t0: Date.now() }));
  t = performance.now();
  await must(api("POST", "/v1/triggers/bench-stream/resume"), 200);
  await eventually(async () => (count("stream-tp") >= N ? true : undefined), "stream throughput", 300_000, 50);
  const streamRate = N / ((performance.now() - t) / 1000);

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
  row("throughput from a stream", `${streamRate.toFixed(0)} inv/s`, `async publishes to weft.invoke: ${floorRate.toFixed(0)} inv/s (ratio ${(streamRate / floorRate).toFixed(2)})`);
  row("publish → handler, stream trigger, p50 / p99", `${streamLat.p50} / ${streamLat.p99} ms`, `publish to weft.invoke: ${floorLat.p50} / ${floorLat.p99} ms`);
  row("publish → handler, subject trigger, p50 / p99", `${subjectLat.p50} / ${subjectLat.p99} ms`, "(same floor)");
} finally {
  await nc.close();
  await fabric.stop();
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
