// Records at scale, the short version of `npm run bench:records`: 20,000 invocations loaded through the ingest's
// write path into a private FerretDB (the embedded store, as services.sh builds it), then: every hot read is a
// look-up the store answers from an index (explain), the reads stay within bounds (the targets at 10^6 records,
// with a margin for the shared machine), and retention purges by age and per-function cap in bounded steps.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { startPrivateFerretDb, type PrivateMongo } from "./harness/ferretdb.js";
import { InvocationRecords } from "../controller/invocation-records.js";
import { REPLACES_PER_COMMAND } from "../controller/invocation-pages.js";
import { slotId } from "../controller/owned-documents.js";
import { finalEvent } from "./fixtures/record-events.js";
import { RecordRetention } from "../controller/record-retention.js";
import { eventsOf, explainHotReads, loadRecords, measureReads, type Loaded } from "./bench/records-load.js";

const RECORDS = Number(process.env.WEFT_RECORDS_TEST_RECORDS ?? 20_000);
const FUNCTIONS = 20;
const HOUR = 3600_000;
const log = pino({ level: process.env.WEFT_TEST_LOG ?? "silent" });

let mongo: PrivateMongo;
let client: MongoClient;
let records: InvocationRecords;
let loaded: Loaded;
const now = Date.now();

before(async () => {
  mongo = await startPrivateFerretDb();
  client = await new MongoClient(mongo.url).connect();
  records = new InvocationRecords(client.db("weft_scale"), { rollupFlushMs: 1000 }, log);
  await records.ensureIndexes();
  loaded = await loadRecords(records, { records: RECORDS, functions: FUNCTIONS, spanMs: 2 * HOUR, batch: 2000, now });
});

after(async () => {
  await client?.close();
  await mongo?.cleanup();
});

describe("reads at scale", () => {
  test("every hot read is answered from an index (no scan)", async () => {
    const plans = await explainHotReads(records, loaded.sampleIds.at(-1)!, loaded.functions[0]!, now);
    for (const p of plans) assert.ok(p.indexed, `${p.read}: ${p.plan}`);
    assert.equal(plans.length, 6);
  });

  test("GET, the newest 50 and 24 h metrics stay within their bounds", async (t) => {
    const f = await measureReads(records, loaded, 80);
    t.diagnostic(`${RECORDS} records: ${JSON.stringify(f)}`);
    // Targets at 10^6 records: 20 / 50 / 100 ms at p99. Medians are held to the targets (a read that scanned
    // would miss them many times over: the unpatched store's GET took a median 646 ms at 3,000 records). The
    // tails only catch gross regressions: the 2-core machine is shared, and its stalls (seen: a load average of
    // 30, a bare find by _id at p99 80 ms) land on every read alike.
    for (const [name, target] of [["get", 20], ["list50", 50], ["metrics24h", 100]] as const) {
      assert.ok(f[name].p50 <= target, `${name} p50 ${f[name].p50} ms > ${target}`);
      assert.ok(f[name].p99 <= 10 * target + f.floor.p99, `${name} p99 ${f[name].p99} ms (floor p99 ${f.floor.p99})`);
    }
  });

  test("the newest 50 are the function's newest by enqueue time, whole", async () => {
    const fn = loaded.functions[3]!;
    const got = await records.list(fn, 50);
    assert.equal(got.length, 50);
    const times = got.map((r) => Date.parse(r.enqueuedAt));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");
    // The load gives functions turns of 50 invocations: each function's newest is within one round of the end.
    const round = (2 * HOUR * FUNCTIONS * 50) / RECORDS;
    assert.ok(now - times[0]! <= round, "starts at the newest");
    assert.ok(times[0]! - times[49]! < round, "the 50 are one run of the function's, not older ones");
    const one = got.find((r) => r.async)!;
    assert.deepEqual((await records.get(one.invocationId))?.record, one, "a listed record is the record GET returns");
    assert.deepEqual(one.event, { order: 42, items: ["a", "b", "c"], customer: { id: "c-1", tier: "gold" } });
  });

  test("a finished async record read while its batch is being stored always carries its event", async () => {
    // CI once read an async record as ok without its event: the final and the queued phase were inserted in
    // parallel and GET read both in parallel, so it could see one and not the other.
    // A database of its own: its rollups, flushed on a timer, must not land among the retention tests' ones.
    const own = new InvocationRecords(client.db("weft_scale_race"), { rollupFlushMs: 1000 }, log);
    const fn = { functionName: "read-while-stored", incarnation: "b".repeat(16) };
    let finishedReads = 0;
    for (let round = 0; round < 30; round++) {
      const batch = Array.from({ length: 30 }, (_, i) => eventsOf(fn, i * 3, now - 1000 + round)).flat();
      const ids = [...new Set(batch.map((e) => e.invocationId))];
      let stored = false;
      const applied = own.apply(batch).finally(() => { stored = true; });
      const reads: Promise<void>[] = [];
      while (!stored) {
        reads.push(...ids.map(async (id) => {
          const r = (await own.get(id))?.record;
          if (r?.status !== "ok" && r?.status !== "error") return;
          finishedReads++;
          assert.ok(r.event !== undefined, `${id} read as ${r.status} without its event`);
        }));
        await Promise.all(reads.splice(0));
      }
      assert.deepEqual((await applied).rejected, []);
    }
    assert.ok(finishedReads > 0, "some reads landed between the final's insert and the batch's end");
    await own.rollups.stop();
    await client.db("weft_scale_race").dropDatabase();
  });

  test("a head's rollupsFrom is the lowest block written, however many blocks of it are written at once", async () => {
    // FerretDB applies concurrent updates of one document as read-modify-write and keeps only one: without the
    // heads' updates made in turn, rollupsFrom stayed at 06:00 in about half of these, and the 00:00 block
    // outlived retention (CI saw it: "rollups past their own age are purged").
    const early = new Date("2026-12-02T00:00:00Z");
    const late = new Date("2026-12-02T06:00:00Z");
    for (let i = 0; i < 40; i++) {
      const scope = `heads-race-${i}@${"c".repeat(16)}`;
      await records.heads.rollupWritten(scope, late);
      await Promise.all([records.heads.rollupWritten(scope, late), records.heads.rollupWritten(scope, early), records.heads.pageClaimed(scope, 3)]);
      const head = await records.heads.get(scope);
      assert.equal(head?.rollupsFrom?.toISOString(), early.toISOString(), `round ${i}`);
      assert.equal(head?.head, 3, `round ${i}`);
      await records.heads.collection.deleteOne({ _id: scope });
    }
  });

  test("metrics over the window count every final in it", async () => {
    const m = await records.metrics(loaded.functions[0]!, 24 * HOUR, now);
    assert.equal(m.count, RECORDS / FUNCTIONS);
    assert.equal(m.errors, m.count - m.ok);
    const lastHour = await records.metrics(loaded.functions[0]!, HOUR, now);
    assert.ok(Math.abs(lastHour.count - m.count / 2) <= 10, `half of them in the last hour: ${lastHour.count} of ${m.count}`);
  });
});

describe("retention", () => {
  test("a per-function cap purges the oldest pages, in bounded steps", async () => {
    const retention = new RecordRetention(
      records,
      { recordMaxAgeMs: 30 * 24 * HOUR, recordMaxPerFunction: 300, rollupMaxAgeMs: 90 * 24 * HOUR, intervalMs: 0, batch: 1000 },
      log,
    );
    const oldest = loaded.sampleIds[0]!;
    assert.ok((await records.get(oldest))?.record);
    let steps = 0;
    let purged = 0;
    for (;;) {
      const report = await retention.step(now);
      steps++;
      purged += report.records;
      assert.ok(report.records <= 1000 + 50, `a step purges at most a batch (and the page it is in): ${report.records}`);
      if (!report.more) break;
    }
    assert.ok(steps > 1, "more than one step was needed");
    const perFunction = RECORDS / FUNCTIONS;
    assert.ok(purged >= FUNCTIONS * (perFunction - 350), `purged ${purged}`);
    assert.equal(await records.get(oldest), undefined, "the oldest records are gone");
    const kept = await records.list(loaded.functions[0]!, 1000);
    assert.ok(kept.length >= 250 && kept.length <= 350, `kept ${kept.length} (the cap, in whole pages)`);
    assert.equal((await records.list(loaded.functions[0]!, 50)).length, 50);
  });

  test("age purges all but the newest page, and rollups outlive records until their own age", async () => {
    const retention = new RecordRetention(
      records,
      { recordMaxAgeMs: HOUR, recordMaxPerFunction: 100_000, rollupMaxAgeMs: 10 * 24 * HOUR, intervalMs: 0, batch: 5000 },
      log,
    );
    const later = now + 3 * 24 * HOUR;
    while ((await retention.step(later)).more);
    const kept = await records.list(loaded.functions[1]!, 1000);
    assert.ok(kept.length <= 50, `only the newest page is left: ${kept.length}`);
    const metrics = await records.metrics(loaded.functions[1]!, 4 * 24 * HOUR, later);
    assert.equal(metrics.count, RECORDS / FUNCTIONS, "rollups are kept longer than records");
    const muchLater = now + 20 * 24 * HOUR;
    // The clock jumps 20 days here, not the rollups' writer's: stopped first, no flush of today's blocks can land
    // after the purge.
    await records.rollups.stop();
    while ((await retention.step(muchLater)).more);
    const left = await records.rollups.collection.find({}).limit(3).toArray();
    assert.equal(left.length, 0, `rollups past their own age are purged; left: ${JSON.stringify(left).slice(0, 600)}`);
  });
});

describe("listing pages of many functions", () => {
  test("one batch rewrites 120 functions' pages in bulks the store answers, and a page purged while open is claimed again", async () => {
    // FerretDB 1.24 never answers an update command of 100 statements or more; the bound keeps each bulk under it.
    const watched = await new MongoClient(mongo.url, { monitorCommands: true }).connect();
    const updates: number[] = [];
    watched.on("commandStarted", (e) => {
      if (e.commandName === "update" && e.command.update === "invocation_pages") updates.push(e.command.updates.length);
    });
    try {
      const many = new InvocationRecords(watched.db("weft_pages_bulk"), { rollupFlushMs: 1000 }, log);
      const names = Array.from({ length: 120 }, (_, i) => `bulk-${i}`);
      const batch = () => names.map((n) => finalEvent(n, { incarnation: "i1" }));
      await many.apply(batch()); // claims each function's page 0 (inserts)
      assert.deepEqual(updates, [], "a first batch only claims pages");
      await many.apply(batch());
      assert.ok(updates.length >= 3 && updates.length < names.length, `bulks, not one command per page: ${updates}`);
      assert.ok(Math.max(...updates) <= REPLACES_PER_COMMAND, `statements per command: ${updates}`);
      assert.equal(updates.reduce((a, b) => a + b, 0), names.length, "every page rewritten once");
      // Retention purging one open page: the bulk matches one page fewer, and that page is claimed again.
      await many.pages.collection.deleteOne({ _id: slotId("bulk-7@i1", 0) });
      await many.apply(batch());
      for (const name of ["bulk-7", "bulk-8", "bulk-119"]) {
        assert.equal((await many.list({ functionName: name, incarnation: "i1" }, 50)).length, 3, name);
      }
      assert.ok(await many.pages.page("bulk-7@i1", 1), "the purged page's entries went to a new page");
    } finally {
      await watched.db("weft_pages_bulk").dropDatabase();
      await watched.close();
    }
  });
});
