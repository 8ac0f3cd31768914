// GET /metrics on a real fabric: scraped and parsed as the Prometheus text format, and checked against what ran.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { RECORD_BATCH_SUBJECT } from "../shared/subjects.js";

let fabric: Fabric;

before(async () => {
  fabric = await startFabric();
});

after(async () => {
  await fabric?.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
}

/** The text exposition format 0.0.4: # HELP / # TYPE lines, then `name{label="value",…} number`. */
function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ")) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { types, samples };
}

async function scrape(): Promise<Scrape> {
  const res = await fetch(`${fabric.httpUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

const value = (s: Scrape, name: string, labels: Record<string, string> = {}) =>
  s.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

test("GET /metrics counts what ran, by function, status and isolation, with durations, cold starts, slots and health", async () => {
  const fn = `prom-${randomBytes(3).toString("hex")}`;
  const code = 'def handler(event, context):\n    if event.get("fail"):\n        raise ValueError("no")\n    return 1\n';
  assert.equal((await http(fabric.httpUrl, "PUT", `/v1/functions/${fn}`, { runtime: "python3", code })).status, 201);
  for (const event of [{}, {}, { fail: true }]) {
    assert.equal((await http(fabric.httpUrl, "POST", `/v1/functions/${fn}/invoke`, event)).status, 200);
  }
  const s = await eventually(async () => {
    const now = await scrape();
    return value(now, "weft_invocations_total", { function: fn, status: "error" }) === 1 ? now : undefined;
  }, "the error counted");
  assert.equal(value(s, "weft_invocations_total", { function: fn, status: "ok", isolation: "runc" }), 2);
  assert.equal(value(s, "weft_invocations_total", { function: fn, status: "error", isolation: "runc" }), 1);
  assert.equal(s.types.get("weft_invocations_total"), "counter");
  assert.equal(s.types.get("weft_invocation_duration_seconds"), "histogram");
  assert.equal(value(s, "weft_invocation_duration_seconds_count", { function: fn }), 3);
  const sum = value(s, "weft_invocation_duration_seconds_sum", { function: fn })!;
  assert.ok(sum > 0 && sum < 10, `durations are in seconds: ${sum}`);
  assert.equal(value(s, "weft_invocation_duration_seconds_bucket", { function: fn, le: "+Inf" }), 3);
  assert.equal(value(s, "weft_cold_starts_total", { function: fn }), 1, "the first call started a container; the next two were warm");

  assert.equal(value(s, "weft_agents"), 1);
  const slots = (value(s, "weft_agent_slots", { state: "busy" }) ?? NaN) + (value(s, "weft_agent_slots", { state: "free" }) ?? NaN);
  const health = await http(fabric.httpUrl, "GET", "/healthz");
  assert.equal(slots, health.body.agents[0].slots);
  // Heartbeats come every few seconds: the warm container shows in the next one.
  // Summed over runtime × isolation: agents report their containers per pool.
  const idle = (x: Scrape) => x.samples.filter((v) => v.name === "weft_containers" && v.labels.state === "idle").reduce((n, v) => n + v.value, 0);
  await eventually(async () => (idle(await scrape()) >= 1 ? true : undefined), "the warm container counted");
  assert.equal(value(s, "weft_queue_depth"), 0);
  assert.equal(value(s, "weft_nats_up"), 1);
  assert.equal(value(s, "weft_mongodb_up"), 1);
  assert.ok((value(s, "process_cpu_seconds_total", { component: "gateway" }) ?? 0) > 0, "the gateway's process metrics");

  // Conventions: counters end in _total; every weft_ family is typed; no label holds an unbounded value.
  for (const [name, type] of s.types) if (type === "counter") assert.match(name, /_total$/, name);
  for (const x of s.samples.filter((x) => x.name.startsWith("weft_"))) {
    assert.deepEqual(Object.keys(x.labels).filter((l) => !["function", "status", "isolation", "runtime", "state", "le"].includes(l)), [], `${x.name} labels`);
  }
});

test("a deleted function's series end", async () => {
  const fn = `prom-del-${randomBytes(3).toString("hex")}`;
  assert.equal((await http(fabric.httpUrl, "PUT", `/v1/functions/${fn}`, { runtime: "python3", code: "def handler(e, c):\n    return 1\n" })).status, 201);
  assert.equal((await http(fabric.httpUrl, "POST", `/v1/functions/${fn}/invoke`, {})).status, 200);
  await eventually(async () => (value(await scrape(), "weft_invocations_total", { function: fn, status: "ok" }) === 1 ? true : undefined), "counted");
  assert.equal((await http(fabric.httpUrl, "DELETE", `/v1/functions/${fn}`)).status, 200);
  const after = await scrape();
  assert.equal(after.samples.filter((x) => x.labels.function === fn).length, 0);
});

test("an agent's batch is counted record by record: statuses, cold starts and durations, a record heard twice once", async () => {
  const fn = `prom-batch-${randomBytes(3).toString("hex")}`;
  assert.equal((await http(fabric.httpUrl, "PUT", `/v1/functions/${fn}`, { runtime: "python3", code: "def handler(e, c):\n    return 1\n" })).status, 201);
  const id = () => `inv-${randomBytes(8).toString("hex")}`;
  const [a, b, c] = [id(), id(), id()];
  const final = (invocationId: string, status: string, durationMs: number, coldStart: boolean) =>
    ({ invocationId, functionName: fn, phase: "final", status, durationMs, coldStart, enqueuedAt: Date.now() });
  // As an agent publishes them: one message, a JSON array; the first record again (an outbox re-publish), a
  // running phase and an item that is no record, neither of which counts.
  const batch = [final(a, "ok", 4, true), final(b, "ok", 6, false), final(c, "error", 2000, false), final(a, "ok", 4, true),
    { invocationId: id(), functionName: fn, phase: "running" }, { not: "a record" }];
  const nc = await connect({ servers: fabric.nats.url });
  try {
    nc.publish(RECORD_BATCH_SUBJECT, JSON.stringify(batch));
    await nc.flush();
  } finally {
    await nc.close();
  }
  const s = await eventually(async () => {
    const now = await scrape();
    return value(now, "weft_invocations_total", { function: fn, status: "error" }) === 1 ? now : undefined;
  }, "the batch counted");
  assert.equal(value(s, "weft_invocations_total", { function: fn, status: "ok", isolation: "runc" }), 2);
  assert.equal(value(s, "weft_cold_starts_total", { function: fn }), 1);
  assert.equal(value(s, "weft_invocation_duration_seconds_count", { function: fn }), 3);
  assert.equal(value(s, "weft_invocation_duration_seconds_sum", { function: fn }), 2.01);
  assert.equal(value(s, "weft_invocation_duration_seconds_bucket", { function: fn, le: "0.005" }), 1);
});
