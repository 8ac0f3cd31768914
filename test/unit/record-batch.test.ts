// The agent's record batching (agents/record-batch.ts) as pure scheduling logic: a stand-in for the outbox that
// stores each publish when the test says so (the outbox itself is tested against a real nats-server in
// test/record-outbox.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { RecordBatcher } from "../../agents/record-batch.js";
import type { RecordOutbox } from "../../agents/record-outbox.js";
import type { RecordEvent } from "../../shared/schemas/invocation.js";

/** Publishes are held until `storeAll()`; each is the JSON array of one batch's records. */
function heldOutbox() {
  const batches: string[][] = [];
  const waiting: Array<() => void> = [];
  const outbox = {
    publish: (_subject: string, data: string) => {
      batches.push((JSON.parse(data) as RecordEvent[]).map((r) => r.invocationId));
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
  } as unknown as RecordOutbox;
  return { outbox, batches, storeAll: () => { for (const w of waiting.splice(0)) w(); } };
}

const record = (id: string): RecordEvent => ({ invocationId: id, functionName: "f", phase: "final", enqueuedAt: 1, status: "ok" }) as RecordEvent;

/** Settles within `ms`, or rejects: a record that never goes out must fail the test, not hang it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} not stored within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test("records that finish within the linger share one batch", async () => {
  const o = heldOutbox();
  const b = new RecordBatcher(o.outbox, "agent", { lingerMs: 30 });
  const stored = [b.add(record("a")), b.add(record("b")), b.add(record("c"))];
  await new Promise((r) => setTimeout(r, 60));
  o.storeAll();
  await within(Promise.all(stored), 2000, "the batch");
  assert.deepEqual(o.batches, [["a", "b", "c"]]);
});

test("a full batch goes at once, without waiting for the linger", async () => {
  const o = heldOutbox();
  const b = new RecordBatcher(o.outbox, "agent", { lingerMs: 60_000, maxRecords: 2 });
  const stored = [b.add(record("a")), b.add(record("b"))];
  o.storeAll();
  await within(Promise.all(stored), 2000, "the full batch");
  assert.deepEqual(o.batches, [["a", "b"]]);
});

test("a linger that ends after its records already went out does not stop later batches", async () => {
  // The full batch empties the queue while the linger of its first record is still pending; when that linger
  // ends there is nothing to store. Every later record must still go out.
  const o = heldOutbox();
  const b = new RecordBatcher(o.outbox, "agent", { lingerMs: 20, maxRecords: 2 });
  const first = [b.add(record("a")), b.add(record("b"))];
  o.storeAll();
  await within(Promise.all(first), 2000, "the first batch");
  await new Promise((r) => setTimeout(r, 50)); // the first linger ends with nothing to store
  const later = b.add(record("c"));
  const flushed = (async () => {
    for (;;) {
      o.storeAll();
      if (o.batches.length === 2) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await within(flushed, 2000, "record c's batch");
  o.storeAll();
  await within(later, 2000, "record c");
  assert.deepEqual(o.batches, [["a", "b"], ["c"]]);
});

test("without a linger, records of one turn share a batch and the next turn's wait for the one in flight", async () => {
  const o = heldOutbox();
  const b = new RecordBatcher(o.outbox, "agent");
  const first = [b.add(record("a")), b.add(record("b"))];
  await new Promise((r) => setImmediate(r));
  const second = b.add(record("c"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(o.batches, [["a", "b"]]);
  o.storeAll();
  await within(Promise.all(first), 2000, "the first batch");
  const drained = (async () => {
    while (o.batches.length < 2) await new Promise((r) => setTimeout(r, 5));
    o.storeAll();
  })();
  await within(drained, 2000, "the second batch");
  await within(second, 2000, "record c");
  assert.deepEqual(o.batches, [["a", "b"], ["c"]]);
});

test("under load, the batch that filled while one was being stored still waits for its linger", async () => {
  // Sending it as soon as the one before was stored made the batches under load only as big as one PubAck's round
  // trip of records. The second batch may leave no sooner than the linger after its first record.
  const LINGER_MS = 80;
  const o = heldOutbox();
  const sentAt: number[] = [];
  const publish = o.outbox.publish.bind(o.outbox);
  o.outbox.publish = ((...args: Parameters<RecordOutbox["publish"]>) => {
    sentAt.push(performance.now());
    return publish(...args);
  }) as RecordOutbox["publish"];
  const b = new RecordBatcher(o.outbox, "agent", { lingerMs: LINGER_MS });
  const first = b.add(record("a"));
  await within((async () => { while (o.batches.length < 1) await new Promise((r) => setTimeout(r, 2)); })(), 2000, "the first batch's publish");
  // Read before the add, so it is no later than the batcher's own reading of the batch's first record.
  const filledAt = performance.now();
  const later = [b.add(record("b")), b.add(record("c"))];
  o.storeAll();
  await within(first, 2000, "record a");
  const drained = (async () => {
    while (o.batches.length < 2) await new Promise((r) => setTimeout(r, 2));
    o.storeAll();
  })();
  await within(drained, 2000, "the second batch");
  await within(Promise.all(later), 2000, "records b and c");
  assert.deepEqual(o.batches, [["a"], ["b", "c"]]);
  assert.ok(sentAt[1]! - filledAt >= LINGER_MS, `the second batch left ${(sentAt[1]! - filledAt).toFixed(1)} ms after its first record (linger ${LINGER_MS} ms)`);
});
