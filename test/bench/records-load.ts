// The records scenario's parts, shared by `npm run bench:records` and test/records-scale.test.ts: load records
// straight into the controller's collections (through InvocationRecords.apply, the ingest's own write path,
// without NATS), check the query plans of the hot reads, and time those reads beside their floor.
import { randomBytes, randomUUID } from "node:crypto";
import type { Collection, Document } from "mongodb";
import type { Incarnated, InvocationRecords } from "../../controller/invocation-records.js";
import { phaseId } from "../../controller/invocation-records.js";
import { slotId } from "../../controller/owned-documents.js";
import { PAGE_ENTRIES, scopeOf } from "../../controller/invocation-pages.js";
import { blockKey, blockOf } from "../../controller/metrics-rollups.js";
import type { RecordEvent } from "../../shared/schemas/invocation.js";

export interface LoadPlan {
  records: number;
  functions: number;
  /** Enqueue times are spread evenly over the last `spanMs`. */
  spanMs: number;
  /** Events applied per call (the ingest's batch is 500; larger is faster to load). */
  batch: number;
  now: number;
}

export interface Loaded {
  /** Each function's live incarnation, as the API scopes reads. */
  functions: Incarnated[];
  /** A sample of stored invocation ids, for look-ups. */
  sampleIds: string[];
  seconds: number;
}

const EVENT = JSON.stringify({ order: 42, items: ["a", "b", "c"], customer: { id: "c-1", tier: "gold" } });
const OUTPUT = JSON.stringify({ ok: true, total: 17.5 });

/** Every third invocation is async (a queued phase plus the final); the others are sync (the final carries the event). */
export function eventsOf(fn: Incarnated, i: number, enqueuedAt: number): RecordEvent[] {
  const invocationId = randomUUID();
  const base = { invocationId, ...fn, enqueuedAt, version: 1, traceId: "0af7651916cd43dd8448eb211c80319c" };
  const async = i % 3 === 0;
  const durationMs = 0.5 + (i % 200) * 0.37;
  const final: RecordEvent = {
    ...base,
    phase: "final",
    agent: "host-1",
    startedAt: enqueuedAt + 1,
    coldStart: i % 97 === 0,
    attempt: 1,
    status: i % 50 === 0 ? "error" : "ok",
    ...(async ? {} : { event: EVENT }),
    output: OUTPUT,
    ...(i % 50 === 0 ? { error: { code: "HANDLER_ERROR" as const, message: "boom", type: "ValueError" } } : {}),
    durationMs,
    logs: "processing order 42\n",
    finishedAt: enqueuedAt + 1 + durationMs,
  };
  return async ? [{ ...base, phase: "queued", async: true, event: EVENT }, final] : [final];
}

/**
 * Loads `plan.records` invocations, oldest first, as the ingest would store them: the functions take turns in runs
 * of a listing page (50), so each page is written about once (a live ingest rewrites a function's open page
 * with every batch that brings it records).
 */
export async function loadRecords(records: InvocationRecords, plan: LoadPlan, progress?: (done: number) => void): Promise<Loaded> {
  const functions = Array.from({ length: plan.functions }, (_, i) => ({ functionName: `load-${i}`, incarnation: randomBytes(8).toString("hex") }));
  const sampleIds: string[] = [];
  const sampleEvery = Math.max(1, Math.floor(plan.records / 2000));
  const started = performance.now();
  let batch: RecordEvent[] = [];
  for (let i = 0; i < plan.records; i++) {
    const enqueuedAt = plan.now - plan.spanMs + Math.floor((i / plan.records) * plan.spanMs);
    const evs = eventsOf(functions[Math.floor(i / PAGE_ENTRIES) % plan.functions]!, i, enqueuedAt);
    if (i % sampleEvery === 0) sampleIds.push(evs[0]!.invocationId);
    batch.push(...evs);
    if (batch.length >= plan.batch) {
      await applyAll(records, batch);
      batch = [];
      progress?.(i + 1);
    }
  }
  if (batch.length) await applyAll(records, batch);
  await records.rollups.flush();
  return { functions, sampleIds, seconds: (performance.now() - started) / 1000 };
}

async function applyAll(records: InvocationRecords, batch: RecordEvent[]): Promise<void> {
  const outcome = await records.apply(batch);
  if (outcome.rejected.length) throw new Error(`MongoDB refused ${outcome.rejected.length} records: ${outcome.reason}`);
}

export interface Figures {
  p50: number;
  p99: number;
  n: number;
}

export interface ReadFigures {
  floor: Figures;
  get: Figures;
  list50: Figures;
  metrics24h: Figures;
}

/** Times the hot reads in rounds that alternate, so the machine's noise falls on all alike. */
export async function measureReads(records: InvocationRecords, loaded: Loaded, perRead: number): Promise<ReadFigures> {
  const ids = loaded.sampleIds;
  const fns = loaded.functions;
  const pick = <T>(xs: T[], i: number) => xs[(i * 7919) % xs.length]!;
  const rounds = 4;
  const parts: Record<keyof ReadFigures, number[]> = { floor: [], get: [], list50: [], metrics24h: [] };
  const ops: Record<keyof ReadFigures, (i: number) => Promise<unknown>> = {
    floor: (i) => records.finals.findOne({ _id: pick(ids, i) }),
    get: async (i) => {
      if (!(await records.get(pick(ids, i)))) throw new Error(`record ${pick(ids, i)} not found`);
    },
    list50: async (i) => {
      const got = await records.list(pick(fns, i), 50);
      if (got.length !== 50) throw new Error(`listed ${got.length} records of ${pick(fns, i).functionName}, not 50`);
    },
    metrics24h: (i) => records.metrics(pick(fns, i), 24 * 3600_000),
  };
  for (let r = 0; r < rounds; r++) {
    for (const key of Object.keys(ops) as Array<keyof ReadFigures>) {
      const n = Math.ceil(perRead / rounds);
      const offset = r * n;
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await ops[key](offset + i);
        xs.push(performance.now() - t);
      }
      parts[key].push(...xs);
    }
  }
  const figures = (xs: number[]): Figures => {
    xs.sort((a, b) => a - b);
    const at = (q: number) => round2(xs[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!);
    return { p50: at(0.5), p99: at(0.99), n: xs.length };
  };
  return { floor: figures(parts.floor), get: figures(parts.get), list50: figures(parts.list50), metrics24h: figures(parts.metrics24h) };
}

export interface PlanCheck {
  read: string;
  plan: string;
  indexed: boolean;
}

/** The query plan of every find the hot reads make: each must use an index (no collection or table scan). */
export async function explainHotReads(records: InvocationRecords, invocationId: string, fn: Incarnated, now: number): Promise<PlanCheck[]> {
  const scope = scopeOf(fn);
  const head = await records.heads.get(scope);
  const finds: Array<[string, Collection<{ _id: string }>, string]> = [
    ["record: final", records.finals as never, invocationId],
    ["record: queued phase", records.phases as never, phaseId(invocationId, "queued")],
    ["record: running phase", records.phases as never, phaseId(invocationId, "running")],
    ["listing: head", records.heads.collection as never, scope],
    ["listing: page", records.pages.collection as never, slotId(scope, head?.head ?? 0)],
    ["metrics: rollup block", records.rollups.collection as never, slotId(blockKey(scope, blockOf(now)), 0)],
  ];
  const out: PlanCheck[] = [];
  for (const [read, collection, id] of finds) {
    const plan = planText(await collection.find({ _id: id }).explain());
    out.push({ read, plan, indexed: isIndexed(plan) });
  }
  return out;
}

/** FerretDB/SQLite: "SEARCH <table> USING INDEX"; MongoDB: IDHACK, EXPRESS_IXSCAN or IXSCAN, never COLLSCAN. */
function isIndexed(plan: string): boolean {
  if (/COLLSCAN/.test(plan) || /detail=SCAN /.test(plan)) return false;
  return /USING (COVERING )?INDEX|IDHACK|IXSCAN|EXPRESS_IXSCAN|EXPRESS_CLUSTERED_IXSCAN/.test(plan);
}

function planText(explain: Document): string {
  const qp = explain.queryPlanner ?? {};
  if (Array.isArray(qp.Plan)) return qp.Plan.join("; ");
  return JSON.stringify(qp.winningPlan ?? qp);
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
