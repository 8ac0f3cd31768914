// Agent records on the way to JetStream, on a real nats-server with a small max_payload: batches are capped in
// UTF-8 bytes (CJK text is 3 bytes a UTF-16 unit), an outbox entry over max_payload is split into its records
// instead of wedging every later record behind it, and a record the outbox cannot write is not reported durable.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { startNats, type NatsServer } from "./harness/nats.js";
import { until } from "./harness/eventually.js";
import { RECORD_BATCH_SUBJECT } from "../shared/subjects.js";
import type { RecordEvent } from "../shared/schemas/invocation.js";
import { batchBytesFor, RecordBatcher } from "../agents/record-batch.js";
import { OutboxWriteError, RecordOutbox } from "../agents/record-outbox.js";

const MAX_PAYLOAD = 2 * 1024 * 1024;
const log = pino({ level: "silent" });

/** A final record whose logs are `units` CJK characters: 3 UTF-8 bytes each. */
function cjkRecord(invocationId: string, units: number): RecordEvent {
  return { phase: "final", invocationId, functionName: "f", logs: "漢".repeat(units) } as unknown as RecordEvent;
}

describe("agent records and max_payload", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let n = 0;

  before(async () => {
    nats = await startNats({ maxPayload: MAX_PAYLOAD });
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.drain();
    await nats?.stop();
  });

  /** A fresh stream over the records subjects, and an outbox in a fresh directory. */
  async function setup(agentId: string): Promise<{ outbox: RecordOutbox; dir: string; stored: () => Promise<{ bytes: number; ids: string[] }[]> }> {
    const stream = `T${++n}`;
    for (const s of await jsm.streams.names().next()) await jsm.streams.delete(s);
    await jsm.streams.add({ name: stream, subjects: ["weft.records.>"] });
    const dir = mkdtempSync(join(tmpdir(), "weft-outbox-"));
    const outbox = new RecordOutbox(jetstream(nc), { dir, agentId, retryMs: 50 }, log);
    const stored = async () => {
      const info = await jsm.streams.info(stream);
      const out: { bytes: number; ids: string[] }[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq });
        if (!m) continue;
        const records = m.json<{ invocationId: string }[]>();
        out.push({ bytes: m.data.length, ids: records.map((r) => r.invocationId) });
      }
      return out;
    };
    return { outbox, dir, stored };
  }

  test("the batch cap counts UTF-8 bytes: CJK records never make a message over max_payload", async () => {
    const { outbox, stored } = await setup("cap");
    const cap = batchBytesFor(nc.info?.max_payload);
    assert.ok(cap <= MAX_PAYLOAD / 2, `cap ${cap} leaves room under max_payload ${MAX_PAYLOAD}`);
    // 10 records of 100k units (300 KB): 1M units fit a cap counted in units, 3 MB does not fit max_payload.
    const batcher = new RecordBatcher(outbox, "cap", { maxBytes: cap });
    await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.add(cjkRecord(`cap-${i}`, 100_000))));
    const msgs = await stored();
    assert.deepEqual(msgs.flatMap((m) => m.ids), Array.from({ length: 10 }, (_, i) => `cap-${i}`));
    for (const m of msgs) assert.ok(m.bytes <= cap, `a message of ${m.bytes} bytes is over the cap ${cap}`);
    // Batched by the cap (3 records of 300 KB in 1 MiB), not one by one by the outbox's split of a refused batch.
    assert.deepEqual(msgs.map((m) => m.ids.length), [3, 3, 3, 1]);
    assert.equal(outbox.size, 0, "nothing went to the outbox");
    assert.equal(outbox.dropped, 0);
    await outbox.stop();
  });

  test("a batch over max_payload is published record by record, not kept in the outbox", async () => {
    const { outbox, stored } = await setup("split");
    const batch = JSON.stringify(Array.from({ length: 10 }, (_, i) => cjkRecord(`split-${i}`, 100_000)));
    assert.ok(Buffer.byteLength(batch) > MAX_PAYLOAD);
    await outbox.publish(RECORD_BATCH_SUBJECT, batch, "split.run.0");
    const msgs = await stored();
    assert.deepEqual(msgs.flatMap((m) => m.ids), Array.from({ length: 10 }, (_, i) => `split-${i}`));
    assert.equal(msgs.length, 10);
    assert.equal(outbox.size, 0);
    await outbox.stop();
  });

  test("an outbox left with an entry over max_payload drains: split, in order, and the entries behind it follow", async () => {
    const { outbox, dir, stored } = await setup("wedged");
    const big = { subject: RECORD_BATCH_SUBJECT, msgID: "wedged.run.0", data: JSON.stringify(Array.from({ length: 10 }, (_, i) => cjkRecord(`w-${i}`, 100_000))) };
    const tooBig = { subject: RECORD_BATCH_SUBJECT, msgID: "wedged.run.1", data: JSON.stringify([cjkRecord("w-alone", 800_000)]) };
    const small = { subject: RECORD_BATCH_SUBJECT, msgID: "wedged.run.2", data: JSON.stringify([cjkRecord("w-last", 10)]) };
    writeFileSync(join(dir, "wedged.jsonl"), [big, tooBig, small].map((e) => `${JSON.stringify(e)}\n`).join(""));
    outbox.start();
    assert.equal(outbox.size, 3);
    await until(() => outbox.size === 0, "the outbox drained", 20_000);
    const msgs = await stored();
    assert.deepEqual(msgs.flatMap((m) => m.ids), [...Array.from({ length: 10 }, (_, i) => `w-${i}`), "w-last"]);
    assert.equal(outbox.dropped, 1, "the single record over max_payload is dropped and counted");
    await outbox.stop();
  });

  test("a record the outbox cannot write rejects, for every record of its batch, and the next batch still goes", async () => {
    const { outbox, dir } = await setup("nodisk");
    // No stream takes this subject (JetStream refuses), and the outbox file is a directory (the write fails).
    await jsm.streams.delete(`T${n}`);
    mkdirSync(join(dir, "nodisk.jsonl"));
    await assert.rejects(outbox.publish(RECORD_BATCH_SUBJECT, "[]", "nodisk.0"), OutboxWriteError);
    const batcher = new RecordBatcher(outbox, "nodisk");
    const results = await Promise.allSettled([batcher.add(cjkRecord("a", 1)), batcher.add(cjkRecord("b", 1))]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    for (const r of results) assert.ok(r.status === "rejected" && r.reason instanceof OutboxWriteError);
    const later = await Promise.allSettled([batcher.add(cjkRecord("c", 1))]);
    assert.equal(later[0]?.status, "rejected", "a later batch is tried (and fails the same way), not stuck");
    await outbox.stop();
  });
});
