// npm run bench:records — reads at a million records, beside their floor in the same run.
//
// Loads WEFT_BENCH_RECORDS invocations (default 10^6; WEFT_BENCH_QUICK=1: 10^5) over 100 functions and the last
// 24 h straight into the controller's collections, through InvocationRecords.apply (the ingest's own write path,
// without NATS), in batches of 5,000 events. The store is a private FerretDB built as services.sh builds it (in a
// temporary directory, removed after), or WEFT_BENCH_MONGO_URL (e.g. a mongod) with a database of its own.
// Then: the query plan of every hot read (explain), and p50/p99 of
//   floor        a bare find by _id in the invocations collection
//   GET          GET /v1/invocations/{id}: the record (three look-ups by _id, merged)
//   newest 50    GET /v1/functions/{name}/invocations?limit=50 (listing pages)
//   metrics 24 h GET /v1/functions/{name}/metrics (per-minute rollups)
// and one retention step (purge rate). Prints a table and writes bench-results/records-<time>.json.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { InvocationRecords } from "../../controller/invocation-records.js";
import { RecordRetention } from "../../controller/record-retention.js";
import { startPrivateFerretDb, type PrivateMongo } from "../harness/ferretdb.js";
import { explainHotReads, loadRecords, measureReads, type ReadFigures } from "./records-load.js";

const ROOT = resolve(import.meta.dirname, "../..");
const QUICK = process.env.WEFT_BENCH_QUICK === "1";
const RECORDS = Number(process.env.WEFT_BENCH_RECORDS ?? (QUICK ? 100_000 : 1_000_000));
const FUNCTIONS = 100;
const READS = QUICK ? 200 : 800;
const TARGETS = { get: 20, list50: 50, metrics24h: 100 } as const;
const log = pino({ level: "warn" });

async function main(): Promise<void> {
  let ferret: PrivateMongo | undefined;
  const url = process.env.WEFT_BENCH_MONGO_URL ?? (ferret = await startPrivateFerretDb()).url;
  const dbName = `weft_bench_records_${randomBytes(3).toString("hex")}`;
  const client = await new MongoClient(url, { maxPoolSize: 32 }).connect();
  try {
    const db = client.db(dbName);
    const records = new InvocationRecords(db, { rollupFlushMs: 1000 }, log);
    await records.ensureIndexes();
    const store = ferret ? `private FerretDB (${process.env.WEFT_FERRETDB_BIN ?? "ferretdb"})` : url;
    console.log(`records bench: loading ${RECORDS.toLocaleString("en")} records over ${FUNCTIONS} functions into ${store}`);
    const now = Date.now();
    const loaded = await loadRecords(records, { records: RECORDS, functions: FUNCTIONS, spanMs: 24 * 3600_000, batch: 5000, now }, (done) => {
      if (done % 100_000 < 1700) console.log(`  ${done.toLocaleString("en")} loaded`);
    });
    const rate = Math.round(RECORDS / loaded.seconds);
    console.log(`loaded in ${loaded.seconds.toFixed(0)} s (${rate} records/s)`);

    const plans = await explainHotReads(records, loaded.sampleIds.at(-1)!, loaded.functions[0]!, now);
    console.log("\nquery plans of the hot reads:");
    for (const p of plans) console.log(`  ${p.indexed ? "index" : "SCAN "}  ${p.read.padEnd(22)} ${p.plan}`);

    const figures = await measureReads(records, loaded, READS);
    printTable(figures);

    const retention = new RecordRetention(
      records,
      { recordMaxAgeMs: 7 * 24 * 3600_000, recordMaxPerFunction: Math.floor(RECORDS / FUNCTIONS / 2), rollupMaxAgeMs: 90 * 24 * 3600_000, intervalMs: 0, batch: 1000 },
      log,
    );
    const t = performance.now();
    const step = await retention.step(now);
    const purgeMs = performance.now() - t;
    console.log(`\nretention: one step purged ${step.records} records (${step.pages} pages) in ${purgeMs.toFixed(0)} ms`);

    await mkdir(join(ROOT, "bench-results"), { recursive: true });
    const file = join(ROOT, "bench-results", `records-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    const out = { at: new Date().toISOString(), store, records: RECORDS, functions: FUNCTIONS, loadSeconds: loaded.seconds, plans, figures, targets: TARGETS, retentionStep: { ...step, ms: purgeMs } };
    await writeFile(file, JSON.stringify(out, null, 2));
    console.log(`\nwritten to ${file}`);
    if (plans.some((p) => !p.indexed)) process.exitCode = 1;
  } finally {
    await client.db(dbName).dropDatabase().catch(() => undefined);
    await client.close();
    await ferret?.cleanup();
  }
}

function printTable(f: ReadFigures): void {
  const row = (what: string, x: { p50: number; p99: number }, target?: number) =>
    console.log(`| ${what.padEnd(28)} | ${`${x.p50} / ${x.p99} ms`.padEnd(20)} | ${target ? `p99 ≤ ${target} ms` : ""}`.padEnd(14) + " |");
  console.log(`\n| read (${RECORDS.toLocaleString("en")} records)`.padEnd(31) + "| p50 / p99            | target     |");
  console.log("| --- | --- | --- |");
  row("floor: find by _id", f.floor);
  row("GET /v1/invocations/{id}", f.get, TARGETS.get);
  row("newest 50 of a function", f.list50, TARGETS.list50);
  row("metrics over 24 h", f.metrics24h, TARGETS.metrics24h);
}

await main();
