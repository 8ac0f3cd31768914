// A retry whose every delivery dies with its agent (a platform failure): the controller's reaper ends it with the
// attempts numbered across both kinds (the earlier try, then this try's deliveries, its retry number unchanged, so
// platform failures never count against async.maxRetries) and dead-letters its event. Real nats-server, no agent.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { randomBytes } from "node:crypto";
import { startNats, type NatsServer } from "./harness/nats.js";
import { eventually } from "./harness/eventually.js";
import { DEFAULT_TOPOLOGY, ensureTopology } from "../shared/nats.js";
import { HEADERS } from "../shared/headers.js";
import { DEAD_LETTERS_STREAM, JOBS_CONSUMER, JOBS_STREAM, RECORDS_STREAM, deadLetterSubject, jobSubject } from "../shared/subjects.js";
import type { Attempt, RecordEvent } from "../shared/schemas/invocation.js";
import { DeadLetter, parseStored } from "../shared/async-jobs.js";
import { JobReaper } from "../controller/job-reaper.js";
import { definitionOf, uniqueName } from "./fixtures/agent-fixture.js";
import { openFunctionsBucket } from "../shared/nats.js";
import { RETRIES_STREAM, retrySubject, versionKey } from "../shared/subjects.js";
import { ScheduledJob } from "../shared/async-jobs.js";

let nats: NatsServer;
let nc: NatsConnection;
before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  await ensureTopology(nc, { ...DEFAULT_TOPOLOGY, jobAckWaitMs: 1000, jobMaxDeliver: 2 });
});
after(async () => {
  await nc.close();
  await nats.stop();
});

test("a retried async job lost on every delivery: attempts 1, 3 (retry 1, delivery 2), dead-lettered as failed", async () => {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const reaper = new JobReaper(nc, js, pino({ level: "silent" }));
  reaper.start();
  try {
    const name = uniqueName("lost-retry");
    const id = `inv-${name}`;
    const first: Attempt = { attempt: 1, retry: 0, delivery: 1, agent: "a1", startedAt: 1, finishedAt: 2, status: "error", errorCode: "HANDLER_ERROR" };
    const h = headers();
    h.set(HEADERS.invocationId, id);
    h.set(HEADERS.enqueuedAt, String(Date.now()));
    h.set(HEADERS.retry, "1");
    h.set(HEADERS.attempts, JSON.stringify([first]));
    await js.publish(jobSubject(name), JSON.stringify({ order: 42 }), { headers: h, msgID: `${id}.r1` });
    const consumer = await js.consumers.get(JOBS_STREAM, JOBS_CONSUMER);
    for (let delivery = 1; delivery <= 2; delivery++) assert.ok(await consumer.next({ expires: 5000 }), `delivery ${delivery}`);
    const after = consumer.next({ expires: 5000 }); // the pull that makes the server raise the advisory
    const records = await js.consumers.get(RECORDS_STREAM, "weft-controller");
    const record = (await records.next({ expires: 10_000 }))?.json<RecordEvent>();
    assert.equal(record?.invocationId, id);
    assert.equal(record?.status, "killed");
    assert.equal(record?.error?.code, "PLATFORM_ERROR");
    assert.equal(record?.attempt, 3, "context.attempt counts every attempt: 1 earlier, then deliveries 1 and 2");
    assert.deepEqual(record?.attempts?.map((a) => [a.attempt, a.retry, a.delivery, a.errorCode]), [[1, 0, 1, "HANDLER_ERROR"], [3, 1, 2, "PLATFORM_ERROR"]]);
    const stored = await eventually(async () => {
      try {
        return (await jsm.streams.getMessage(DEAD_LETTERS_STREAM, { last_by_subj: deadLetterSubject(name, id) })) ?? undefined;
      } catch {
        return undefined;
      }
    }, "the dead letter", 10_000);
    const letter = parseStored(DeadLetter, stored.data);
    assert.equal(letter?.reason, "failed");
    assert.equal(letter?.status, "killed");
    assert.deepEqual(letter?.event, { order: 42 });
    assert.equal(letter?.attempts.length, 2);
    assert.equal(await after, null);
  } finally {
    await reaper.stop();
  }
});

/** Publishes an async job of `name` v1 and lets both its deliveries lapse unacked, so the server gives up on it. */
async function exhaust(name: string, incarnation: string, id: string, event: unknown): Promise<void> {
  const js = jetstream(nc);
  const h = headers();
  h.set(HEADERS.invocationId, id);
  h.set(HEADERS.enqueuedAt, String(Date.now()));
  h.set(HEADERS.version, "1");
  h.set(HEADERS.incarnation, incarnation);
  h.set(HEADERS.message, JSON.stringify({ subject: "orders.eu", headers: { "Order-Id": "9" } }));
  await js.publish(jobSubject(name), JSON.stringify(event), { headers: h, msgID: id });
  const consumer = await js.consumers.get(JOBS_STREAM, JOBS_CONSUMER);
  for (let delivery = 1; delivery <= 2; delivery++) assert.ok(await consumer.next({ expires: 5000 }), `delivery ${delivery}`);
  // The pull that makes the server raise the advisory; awaited, so it cannot take the next test's job.
  assert.equal(await consumer.next({ expires: 3000 }), null); // the pull that makes the server raise the advisory
}

async function deployDefinition(name: string, onFailure: object): Promise<string> {
  const incarnation = randomBytes(8).toString("hex");
  const def = definitionOf(name, { runtime: "python3", code: "def handler(e, c):\n    return e\n", async: { maxRetries: 0, onFailure } } as never, incarnation, 1);
  await (await openFunctionsBucket(nc)).put(versionKey(name, incarnation, 1), JSON.stringify(def));
  return incarnation;
}

test("a job the platform gave up on fires the version's onFailure like any failure: a subject and a function", async () => {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const reaper = new JobReaper(nc, js, pino({ level: "silent" }), () => openFunctionsBucket(nc));
  reaper.start();
  try {
    // onFailure to a subject: the killed record, with the destination headers.
    const toSubject = uniqueName("reap-subj");
    const subject = `failed${toSubject.replace(/-/g, "")}`;
    const sub = nc.subscribe(subject, { max: 1 });
    const got = (async () => { for await (const m of sub) return m; })();
    const incA = await deployDefinition(toSubject, { subject });
    const idA = `inv-${toSubject}`;
    await exhaust(toSubject, incA, idA, { order: 1 });
    const m = await Promise.race([got, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
    assert.ok(m, "the onFailure subject got the record");
    assert.equal(m.headers?.get(HEADERS.status), "killed");
    assert.equal(m.headers?.get(HEADERS.invocationId), idA);
    const rec = m.json<RecordEvent>();
    assert.equal(rec.error?.code, "PLATFORM_ERROR");
    const letterA = await eventually(async () => {
      try {
        return (await jsm.streams.getMessage(DEAD_LETTERS_STREAM, { last_by_subj: deadLetterSubject(toSubject, idA) })) ?? undefined;
      } catch {
        return undefined;
      }
    }, "the dead letter", 10_000);
    assert.deepEqual(parseStored(DeadLetter, letterA.data)?.message, { subject: "orders.eu", headers: { "Order-Id": "9" } }, "the trigger message kept");

    // onFailure to a function: its invocation is scheduled with the record as its event.
    const toFunction = uniqueName("reap-fn");
    const sink = uniqueName("sink");
    const incB = await deployDefinition(toFunction, { function: sink });
    const idB = `inv-${toFunction}`;
    await exhaust(toFunction, incB, idB, { order: 2 });
    const scheduled = await eventually(async () => {
      try {
        return (await jsm.streams.getMessage(RETRIES_STREAM, { last_by_subj: retrySubject(sink) })) ?? undefined;
      } catch {
        return undefined;
      }
    }, "the destination's invocation scheduled", 20_000);
    const job = parseStored(ScheduledJob, scheduled.data);
    assert.equal(job?.invocationId, `${idB}-d`);
    assert.equal(job?.chainDepth, 1);
    assert.equal((job?.event as RecordEvent).invocationId, idB);
    assert.equal((job?.event as RecordEvent).status, "killed");
  } finally {
    await reaper.stop();
  }
});
