// Invocation records: RecordEvents published on WEFT_RECORDS (as gateway and agents do) land in MongoDB
// through the controller, in any order and any number of times, and come back through the controller API.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { startNats, type NatsServer } from "./harness/nats.js";
import { mongoUrl, uniqueDbName } from "./harness/mongo.js";
import { startController, type Controller } from "../controller/app.js";
import { loadControllerConfig } from "../controller/config.js";
import { DEFAULT_TOPOLOGY, ensureTopology } from "../shared/nats.js";
import { RECORD_BATCH_SUBJECT, RECORDS_CONSUMER, RECORDS_STREAM, controllerSubject, recordSubject, type ControllerOp } from "../shared/subjects.js";
import type { ControllerReply } from "../shared/schemas/controller-api.js";
import type { RecordEvent } from "../shared/schemas/invocation.js";
import { eventually } from "./harness/eventually.js";
import { finalEvent } from "./fixtures/record-events.js";
import { DURATION_PRECISION } from "../controller/metrics.js";
import { readDoc, type InvocationDoc, type StoredDoc } from "../controller/invocation-records.js";
import { fetchBytesFor } from "../controller/record-ingest.js";

const JS = `exports.handler = async (event) => event\n`;
const logger = () => pino({ level: process.env.WEFT_TEST_LOG ?? "silent" });
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;
const dbNames: string[] = [];

let nats: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let controller: Controller;

function startOne(natsUrl: string, env: Record<string, string> = {}): Promise<Controller> {
  const db = uniqueDbName("ctl_rec");
  dbNames.push(db);
  return startController(
    loadControllerConfig({ WEFT_NATS_URL: natsUrl, WEFT_MONGO_URL: mongoUrl(), WEFT_MONGO_DB: db, ...env }),
    logger(),
  );
}

async function ok<T = any>(op: ControllerOp, body: unknown): Promise<T> {
  const reply = (await nc.request(controllerSubject(op), JSON.stringify(body), { timeout: 10_000 })).json<ControllerReply<T>>();
  assert.ok(reply.ok, `${op} → ${JSON.stringify(reply)}`);
  return reply.result;
}

let published = 0;
async function publish(ev: RecordEvent | string, msgID = `${randomUUID()}`): Promise<void> {
  const subject = recordSubject(typeof ev === "string" ? "junk" : ev.functionName);
  await js.publish(subject, typeof ev === "string" ? ev : JSON.stringify(ev), { msgID });
  published++;
}


async function recordWhen(id: string, pred: (r: any) => boolean): Promise<any> {
  return eventually(async () => {
    const reply = (await nc.request(controllerSubject("invocations.get"), JSON.stringify({ invocationId: id }), { timeout: 10_000 })).json<ControllerReply<any>>();
    return reply.ok && pred(reply.result) ? reply.result : undefined;
  }, `record ${id}`);
}

/** Deploys and answers the function's incarnation: only records that carry it are shown. */
async function deploy(name: string): Promise<string> {
  return (await ok("functions.put", { name, spec: { runtime: "nodejs", code: JS } })).incarnation;
}


before(async () => {
  nats = await startNats();
  controller = await startOne(nats.url);
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
});

after(async () => {
  await controller?.stop();
  await nc?.close();
  await nats?.cleanup();
  const client = await new MongoClient(mongoUrl()).connect();
  for (const db of dbNames) await client.db(db).dropDatabase();
  await client.close();
});

describe("record ingestion", () => {
  test("phases out of order and twice make one correct record; $ and . keys survive", async () => {
    const name = uniqueName("rec");
    const incarnation = await deploy(name);
    const id = randomUUID();
    const enqueuedAt = Date.now() - 1000;
    const event = JSON.stringify({ $x: 1, "a.b": { "$where": "1" }, name: "ü" });
    const output = JSON.stringify({ "$set": { "x.y": 2 }, ok: true });
    const base = { invocationId: id, functionName: name, incarnation, enqueuedAt, version: 1, traceId: "t".repeat(32) };
    const queued: RecordEvent = { ...base, phase: "queued", async: true, event };
    const running: RecordEvent = { ...base, phase: "running", agent: "agent-1", startedAt: enqueuedAt + 5, coldStart: true, attempt: 1 };
    const final: RecordEvent = {
      ...base,
      phase: "final",
      agent: "agent-1",
      startedAt: enqueuedAt + 5,
      coldStart: true,
      attempt: 1,
      status: "error",
      output,
      error: { code: "HANDLER_ERROR", message: "boom", type: "ValueError", stack: "Traceback" },
      durationMs: 12.5,
      logs: "hello\n",
      finishedAt: enqueuedAt + 20,
    };
    await publish(final, `${id}.final.1`);
    await publish(running, `${id}.running.1`);
    await publish(queued, `${id}.queued`);
    await publish(final, `${id}.final.1.again`);
    await publish(queued, `${id}.queued.again`);

    const record = await recordWhen(id, (r) => r.status === "error" && r.event !== undefined);
    assert.deepEqual(record, {
      invocationId: id,
      functionName: name,
      version: 1,
      status: "error",
      async: true,
      traceId: base.traceId,
      event: JSON.parse(event),
      output: JSON.parse(output),
      error: final.error,
      durationMs: 12.5,
      coldStart: true,
      agent: "agent-1",
      attempt: 1,
      logs: "hello\n",
      enqueuedAt: new Date(enqueuedAt).toISOString(),
      startedAt: new Date(enqueuedAt + 5).toISOString(),
      finishedAt: new Date(enqueuedAt + 20).toISOString(),
    });
    const client = await new MongoClient(mongoUrl()).connect();
    try {
      const docs = await client.db(dbNames[0]!).collection<StoredDoc>("invocations").find({ _id: id }).toArray();
      assert.equal(docs.length, 1, "one document per invocation");
      assert.equal(docs[0]!.status, "error", "the status is a field of its own, to filter on");
      assert.equal(docs[0]!.functionName, name);
      assert.equal(typeof docs[0]!.fieldsJson, "string", "the other fields are one JSON text");
      assert.equal(docs[0]!.outputJson, undefined);
      assert.equal((readDoc(docs[0]!) as InvocationDoc).outputJson, output, "payloads are stored as JSON text");
    } finally {
      await client.close();
    }
  });

  test("status is derived: queued, then running, then final", async () => {
    const name = uniqueName("phase");
    const incarnation = await deploy(name);
    const id = randomUUID();
    const enqueuedAt = Date.now();
    await publish({ invocationId: id, functionName: name, incarnation, phase: "queued", enqueuedAt, event: "{}" });
    assert.equal((await recordWhen(id, () => true)).status, "queued");
    await publish({ invocationId: id, functionName: name, incarnation, phase: "running", enqueuedAt, agent: "a", startedAt: enqueuedAt + 1 });
    assert.equal((await recordWhen(id, (r) => r.status !== "queued")).status, "running");
    await publish(finalEvent(name, { incarnation, invocationId: id, enqueuedAt, status: "timeout", error: { code: "TIMEOUT", message: "3 s" } }));
    const done = await recordWhen(id, (r) => r.status !== "running");
    assert.equal(done.status, "timeout");
    assert.deepEqual(done.event, {});
  });

  test("a cut payload is returned as the text that was kept", async () => {
    const name = uniqueName("cut");
    const incarnation = await deploy(name);
    const ev = finalEvent(name, { incarnation, output: '{"big": "xxxx', outputTruncated: true });
    await publish(ev);
    const got = await recordWhen(ev.invocationId, (r) => r.status === "ok");
    assert.equal(got.output, '{"big": "xxxx');
    assert.equal(got.outputTruncated, true);
  });

  test("invalid records are terminated and never block the stream", async () => {
    const name = uniqueName("junk");
    const incarnation = await deploy(name);
    const before = controller.ingestStats.invalid;
    await publish("not json at all");
    await publish(JSON.stringify({ invocationId: "x", phase: "final" }));
    await publish(JSON.stringify(finalEvent(name, { incarnation, status: "exploded" as never })));
    const good = finalEvent(name, { incarnation });
    await publish(good);
    await recordWhen(good.invocationId, (r) => r.status === "ok");
    assert.equal(controller.ingestStats.invalid - before, 3);
    // A record is readable once inserted; its ack follows its listing page's write.
    const jsm = await jetstreamManager(nc);
    await eventually(
      async () => ((await jsm.consumers.info(RECORDS_STREAM, RECORDS_CONSUMER)).num_ack_pending === 0 ? true : undefined),
      "nothing left unacknowledged",
    );
  });

  test("an agent's batch message stores every record in it; an invalid one is dropped alone and the batch is acked", async () => {
    const name = uniqueName("batch");
    const incarnation = await deploy(name);
    const before = controller.ingestStats.invalid;
    const good = Array.from({ length: 3 }, () => finalEvent(name, { incarnation }));
    const batch = [good[0], { invocationId: "x", phase: "final" }, good[1], good[2]];
    await js.publish(RECORD_BATCH_SUBJECT, JSON.stringify(batch), { msgID: randomUUID() });
    for (const g of good) await recordWhen(g.invocationId, (r) => r.status === "ok");
    assert.equal(controller.ingestStats.invalid - before, 1);
    const jsm = await jetstreamManager(nc);
    await eventually(
      async () => ((await jsm.consumers.info(RECORDS_STREAM, RECORDS_CONSUMER)).num_ack_pending === 0 ? true : undefined),
      "the batch acknowledged",
    );
  });
});

describe("records and metrics through the API", () => {
  test("list is newest first by enqueue time and honours the limit", async () => {
    const name = uniqueName("list");
    const incarnation = await deploy(name);
    const t0 = Date.now() - 60_000;
    const events = Array.from({ length: 5 }, (_, i) => finalEvent(name, { incarnation, enqueuedAt: t0 + i * 1000 }));
    // Published newest first, so stream order is not what sorts the list.
    for (const ev of [...events].reverse()) await publish(ev);
    await recordWhen(events[0]!.invocationId, (r) => r.status === "ok");
    await eventually(async () => ((await ok<any[]>("invocations.list", { name, limit: 100 })).length === 5 ? true : undefined), "5 records");
    const top3 = await ok<any[]>("invocations.list", { name, limit: 3 });
    assert.deepEqual(
      top3.map((r) => r.invocationId),
      [events[4]!.invocationId, events[3]!.invocationId, events[2]!.invocationId],
    );
    const pending: RecordEvent = { invocationId: randomUUID(), functionName: name, incarnation, phase: "queued", enqueuedAt: Date.now(), async: true, event: '{"n":1}' };
    await publish(pending);
    await recordWhen(pending.invocationId, () => true);
    const withPending = await ok<any[]>("invocations.list", { name, limit: 2 });
    assert.deepEqual(
      withPending.map((r) => [r.invocationId, r.status]),
      [[pending.invocationId, "queued"], [events[4]!.invocationId, "ok"]],
      "unfinished invocations are listed among the finished ones",
    );
    assert.deepEqual(withPending[0].event, { n: 1 });

    const other = uniqueName("other");
    await deploy(other);
    assert.deepEqual(await ok("invocations.list", { name: other, limit: 5 }), [], "only the function's own records");
  });

  test("metrics count outcomes and cold starts and give exact percentiles over the window", async () => {
    const name = uniqueName("metrics");
    const incarnation = await deploy(name);
    const now = Date.now();
    const outcomes: Array<Partial<RecordEvent>> = [];
    for (let d = 1; d <= 100; d++) outcomes.push({ durationMs: d, status: "ok", coldStart: d <= 3 });
    outcomes[10] = { durationMs: 11, status: "error", coldStart: false, error: { code: "HANDLER_ERROR", message: "x" } };
    outcomes[20] = { durationMs: 21, status: "timeout", coldStart: false, error: { code: "TIMEOUT", message: "x" } };
    outcomes[30] = { durationMs: 31, status: "killed", coldStart: false, error: { code: "PLATFORM_ERROR", message: "x" } };
    const events = outcomes.map((o, i) => finalEvent(name, { incarnation, ...o, enqueuedAt: now - 10_000 + i }));
    const old = finalEvent(name, { incarnation, enqueuedAt: now - 3 * 3600_000, durationMs: 5000 });
    const inFlight: RecordEvent = { invocationId: randomUUID(), functionName: name, incarnation, phase: "running", enqueuedAt: now, startedAt: now };
    await Promise.all([...events, old, inFlight].map((e) => publish(e)));
    await eventually(
      async () => ((await ok<any[]>("invocations.list", { name, limit: 1000 })).length === 102 ? true : undefined),
      "102 records",
    );
    // Rollups are written at most every WEFT_ROLLUP_FLUSH_MS after the records.
    const m = await eventually(async () => {
      const got = await ok("functions.metrics", { name, windowMs: 3600_000 });
      return got.count === 100 ? got : undefined;
    }, "metrics of 100 finals");
    const { durationMs, ...counts } = m;
    assert.deepEqual(counts, {
      functionName: name,
      windowMs: 3600_000,
      count: 100,
      ok: 97,
      errors: 1,
      timeouts: 1,
      killed: 1,
      coldStarts: 3,
    });
    // Percentiles come from a histogram: within 1 % of the exact nearest rank; mean and max are exact.
    for (const [p, exact] of [["p50", 50], ["p95", 95], ["p99", 99]] as const) {
      assert.ok(Math.abs(durationMs[p] - exact) <= exact * DURATION_PRECISION, `${p} ${durationMs[p]} ≈ ${exact}`);
    }
    assert.equal(durationMs.mean, 50.5);
    assert.equal(durationMs.max, 100);
    const day = await ok("functions.metrics", { name });
    assert.equal(day.windowMs, 24 * 3600_000, "the configured default window");
    assert.equal(day.count, 101, "the older record is inside a day");
    assert.equal(day.durationMs.max, 5000);
  });
});

describe("metrics over long windows", () => {
  const DAY = 24 * 3600_000;
  test("30 days count every block from the function's first rollup on; a function with none reads none", async () => {
    const name = uniqueName("month");
    const incarnation = await deploy(name);
    const now = Date.now();
    // Five days apart: twenty 6-hour blocks between them, none with a document.
    const events = [finalEvent(name, { incarnation, enqueuedAt: now - 5 * DAY, durationMs: 7 }), finalEvent(name, { incarnation, enqueuedAt: now - 1000, durationMs: 3 })];
    await Promise.all(events.map((e) => publish(e)));
    const month = 30 * DAY;
    const m = await eventually(async () => {
      const got = await ok("functions.metrics", { name, windowMs: month });
      return got.count === 2 ? got : undefined;
    }, "both finals in 30 days of metrics");
    assert.equal(m.durationMs.max, 7, "the older block is read");
    const series = await ok("metrics.series", { name, windowMs: month });
    assert.equal(series.totals.count, 2, JSON.stringify(series.totals));
    assert.equal((await ok("functions.metrics", { name, windowMs: DAY })).count, 1, "a day leaves the older one out");

    const quiet = uniqueName("quiet");
    await deploy(quiet);
    assert.equal((await ok("functions.metrics", { name: quiet, windowMs: month })).count, 0);
    assert.equal((await ok("metrics.series", { name: quiet, windowMs: month })).totals.count, 0);
  });
});

describe("records of a deleted function", () => {
  const notFound = async (op: ControllerOp, body: unknown) => {
    const reply = (await nc.request(controllerSubject(op), JSON.stringify(body), { timeout: 10_000 })).json<ControllerReply<unknown>>();
    assert.equal(!reply.ok && reply.error.code, "NOT_FOUND", `${op} ${JSON.stringify(body)} → ${JSON.stringify(reply)}`);
  };

  test("are NOT_FOUND from the DELETE on, purged, and never shown under a new function of the same name", async () => {
    const name = uniqueName("gone");
    const first = await deploy(name);
    const before = finalEvent(name, { incarnation: first, output: '{"secret":"s"}' });
    await publish(before);
    await recordWhen(before.invocationId, (r) => r.status === "ok");

    await ok("functions.delete", { name });
    await notFound("invocations.get", { invocationId: before.invocationId });
    await notFound("invocations.list", { name, limit: 10 });
    await notFound("functions.metrics", { name });

    const second = await deploy(name);
    assert.notEqual(second, first);
    // An invocation of the deleted function that was still running writes its record after the DELETE.
    const late = finalEvent(name, { incarnation: first, output: '{"secret":"s"}' });
    const fresh = finalEvent(name, { incarnation: second });
    await publish(late);
    await publish(fresh);
    await recordWhen(fresh.invocationId, (r) => r.status === "ok");
    const client = await new MongoClient(mongoUrl()).connect();
    try {
      const finals = client.db(dbNames[0]!).collection("invocations");
      await eventually(async () => ((await finals.countDocuments({ _id: late.invocationId as never })) === 1 ? true : undefined), "the late record stored");
      await notFound("invocations.get", { invocationId: late.invocationId });
      await notFound("invocations.get", { invocationId: before.invocationId });
      const listed = await ok<any[]>("invocations.list", { name, limit: 10 });
      assert.deepEqual(listed.map((r) => r.invocationId), [fresh.invocationId], "only the new function's records");
      // Rollups are written at most every WEFT_ROLLUP_FLUSH_MS after the records; the late record is never counted.
      await eventually(async () => ((await ok("functions.metrics", { name })).count === 1 ? true : undefined), "the new function's metrics");
      await eventually(async () => ((await finals.countDocuments({ _id: before.invocationId as never })) === 0 ? true : undefined), "purged after the DELETE");
    } finally {
      await client.close();
    }
  });
});

interface Backlog {
  /** A private NATS server's connection, with WEFT_RECORDS filled before the controller started. */
  conn: NatsConnection;
  controller: Controller;
  /** When the controller was started (performance.now()). */
  startedAt: number;
}

/**
 * Fills WEFT_RECORDS of a private NATS server with `fill` (a function name and incarnation of its own), then starts
 * a controller with `env` and hands both to `check`.
 */
async function withRecordBacklog(
  fill: (js: JetStreamClient, name: string, incarnation: string) => Promise<void>,
  env: Record<string, string>,
  check: (b: Backlog) => Promise<void>,
): Promise<void> {
  const server = await startNats();
  const conn = await connect({ servers: server.url });
  let controller: Controller | undefined;
  try {
    await ensureTopology(conn, DEFAULT_TOPOLOGY);
    await fill(jetstream(conn), uniqueName("backlog"), "0123456789abcdef");
    const startedAt = performance.now();
    controller = await startOne(server.url, env);
    await check({ conn, controller, startedAt });
  } finally {
    await controller?.stop();
    await conn.close();
    await server.cleanup();
  }
}

describe("ingestion memory", () => {
  test("a backlog of agents' batch messages is taken a byte budget at a time (WEFT_RECORD_BATCH_BYTES), not all at once", async (t) => {
    // 40 messages of 100 records with 10 KiB outputs: about 40 MiB in the stream before the controller starts,
    // five times the budget (the test server's max_payload is 8 MiB).
    const output = JSON.stringify({ pad: "x".repeat(10 * 1024) });
    const messages = 40;
    let streamBytes = 0;
    const fill = async (js: JetStreamClient, name: string, incarnation: string) => {
      for (let i = 0; i < messages; i++) {
        const data = JSON.stringify(Array.from({ length: 100 }, () => finalEvent(name, { incarnation, output })));
        streamBytes += Buffer.byteLength(data);
        await js.publish(RECORD_BATCH_SUBJECT, data, { msgID: randomUUID() });
      }
    };
    await withRecordBacklog(fill, { WEFT_RECORD_BATCH_BYTES: String(64 * 1024) }, async ({ conn, controller: c }) => {
      const budget = fetchBytesFor(64 * 1024, conn.info!.max_payload);
      await eventually(async () => (c.ingestStats.written >= messages * 100 ? true : undefined), "every record written", 60_000);
      t.diagnostic(`stream ${(streamBytes / 1048576).toFixed(1)} MiB; largest batch in hand ${(c.ingestStats.largestBatchBytes / 1048576).toFixed(2)} MiB (budget ${(budget / 1048576).toFixed(2)} MiB)`);
      assert.equal(c.ingestStats.written, messages * 100);
      assert.ok(streamBytes > 4 * budget, "the backlog is several budgets");
      // The configured 64 KiB is raised to max_payload (plus room for subjects), so any message fits a fetch.
      assert.ok(c.ingestStats.largestBatchBytes <= budget, `largest batch ${c.ingestStats.largestBatchBytes} B within ${budget} B`);
      assert.ok(c.ingestStats.largestBatchBytes > 0);
    });
  });
});

describe("ingestion throughput", () => {
  test("records/s into MongoDB at the default batch", async (t) => {
    const n = Number(process.env.WEFT_INGEST_BENCH_RECORDS ?? 10_000);
    const event = JSON.stringify({ order: 42, items: ["a", "b", "c"], customer: { id: "c-1", tier: "gold" } });
    const fill = async (js: JetStreamClient, name: string, incarnation: string) => {
      for (let i = 0; i < n; i += 500) {
        await Promise.all(
          Array.from({ length: Math.min(500, n - i) }, () =>
            js.publish(recordSubject(name), JSON.stringify(finalEvent(name, { incarnation, output: event, logs: "log line\n" }))),
          ),
        );
      }
    };
    await withRecordBacklog(fill, {}, async ({ conn, controller: c, startedAt }) => {
      await eventually(async () => (c.ingestStats.written >= n ? true : undefined), `${n} records written`, 300_000);
      const seconds = (performance.now() - startedAt) / 1000;
      const rate = Math.round(n / seconds);
      t.diagnostic(`ingested ${n} records in ${seconds.toFixed(2)} s: ${rate} records/s (default batch, ${mongoUrl()})`);
      assert.equal(c.ingestStats.written, n);
      // Acks are sent as the records are counted; the server removes them from the work queue a moment later.
      const jsm = await jetstreamManager(conn);
      await eventually(
        async () => ((await jsm.streams.info(RECORDS_STREAM)).state.messages === 0 ? true : undefined),
        "every record acknowledged and removed from the work queue",
      );
    });
  });
});
