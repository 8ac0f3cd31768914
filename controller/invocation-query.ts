// The invocation history across functions (or of one), newest first, filtered by status and time, in pages.
// Only the live incarnations' records are read (the caller names them): a deleted function's never show.
//
// Order is (enqueuedAt, invocationId) descending, and a page ends at a cursor of that pair, so paging never
// skips nor repeats a record that shares its millisecond with the page's last one. A finished invocation's
// record is found in `invocations`; an unfinished one only in `invocation_phases` (see invocation-records.ts).
import type { Filter } from "mongodb";
import { FINAL_STATUSES, type FinalStatus, type InvocationRecord, type InvocationStatus } from "../shared/schemas/invocation.js";
import type { QueryInvocationsResult } from "../shared/schemas/controller-api.js";
import { merge, phaseId, type Incarnated, type InvocationDoc, type InvocationRecords, type PhaseDoc } from "./invocation-records.js";

export interface InvocationQuery {
  /** The live incarnations to read; none means an empty history. */
  scopes: Incarnated[];
  status?: InvocationStatus;
  limit: number;
  before?: { at: number; id?: string };
  since?: number;
}

export type Position = NonNullable<QueryInvocationsResult["next"]>;
type QueryPage = QueryInvocationsResult;

/** Phase documents examined per request when looking for unfinished invocations, as multiples of `limit`. */
const UNFINISHED_SCAN_FACTOR = 20;

const isFinalStatus = (s: InvocationStatus | undefined): s is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(s ?? "");

export async function queryInvocations(records: InvocationRecords, q: InvocationQuery): Promise<QueryPage> {
  if (q.scopes.length === 0) return { invocations: [] };
  if (isFinalStatus(q.status)) return finishedPage(records, q);
  if (q.status === undefined) return anyPage(records, q);
  return unfinishedPage(records, q, q.status);
}

/** Only finished invocations: `invocations` alone answers, exactly. */
async function finishedPage(records: InvocationRecords, q: InvocationQuery): Promise<QueryPage> {
  const docs = await records.finals
    .find({ ...baseFilter(q, "_id"), status: q.status as FinalStatus } as Filter<InvocationDoc>)
    .sort({ enqueuedAt: -1, _id: -1 })
    .limit(q.limit + 1)
    .toArray();
  const page = docs.slice(0, q.limit);
  const phases = await phasesOf(records, page.map((d) => d._id));
  return pageOf(page.flatMap((d) => merge(d._id, phases.get(d._id) ?? [], d) ?? []), docs.length > q.limit);
}

/**
 * Every status. The newest `limit + 1` records are among the newest `limit + 1` finished ones and the invocations
 * of the newest `2 (limit + 1)` phase documents (an invocation has at most two): the same reasoning as
 * InvocationRecords.list, with the cursor applied to both collections.
 */
async function anyPage(records: InvocationRecords, q: InvocationQuery): Promise<QueryPage> {
  const want = q.limit + 1;
  const [finals, phaseDocs] = await Promise.all([
    records.finals.find(baseFilter(q, "_id") as Filter<InvocationDoc>).sort({ enqueuedAt: -1, _id: -1 }).limit(want).toArray(),
    records.phases.find(baseFilter(q, "invocationId") as Filter<PhaseDoc>).sort({ enqueuedAt: -1, invocationId: -1 }).limit(2 * want).toArray(),
  ]);
  const positions = new Map<string, number>();
  for (const d of finals) positions.set(d._id, d.enqueuedAt.getTime());
  for (const d of phaseDocs) positions.set(d.invocationId, Math.min(positions.get(d.invocationId) ?? Infinity, d.enqueuedAt.getTime()));
  const ordered = newestFirst([...positions].map(([id, at]) => ({ id, at })));
  const top = ordered.slice(0, q.limit).map((p) => p.id);
  const finalById = new Map(finals.map((d) => [d._id, d]));
  // A finished invocation whose final document fell outside the newest `want` still has one: fetch those too.
  const missing = top.filter((id) => !finalById.has(id));
  const [phases, more] = await Promise.all([
    phasesOf(records, top),
    missing.length ? records.finals.find({ _id: { $in: missing } }).toArray() : Promise.resolve([]),
  ]);
  for (const d of more) finalById.set(d._id, d);
  const invocations = top.flatMap((id) => merge(id, phases.get(id) ?? [], finalById.get(id)) ?? []);
  return pageOf(invocations, ordered.length > q.limit);
}

/**
 * Queued or running: invocations with phase documents and no final one. Most phase documents belong to finished
 * invocations, so they are scanned in batches, at most UNFINISHED_SCAN_FACTOR × limit per request; a page
 * that stops at that bound says where to go on from.
 */
async function unfinishedPage(records: InvocationRecords, q: InvocationQuery, status: "queued" | "running"): Promise<QueryPage> {
  const found: InvocationRecord[] = [];
  let cursor = q.before;
  let scanned = 0;
  const batch = Math.max(50, 2 * q.limit);
  while (found.length <= q.limit && scanned < UNFINISHED_SCAN_FACTOR * q.limit) {
    const docs = await records.phases
      .find(baseFilter({ ...q, before: cursor }, "invocationId") as Filter<PhaseDoc>)
      .sort({ enqueuedAt: -1, invocationId: -1 })
      .limit(batch)
      .toArray();
    if (docs.length === 0) return pageOf(found.slice(0, q.limit), found.length > q.limit);
    scanned += docs.length;
    const ids = [...new Set(docs.map((d) => d.invocationId))];
    // The batch may end between an invocation's two phase documents: the next batch starts after the whole invocation.
    const last = docs[docs.length - 1]!;
    cursor = { at: last.enqueuedAt.getTime(), id: last.invocationId };
    const [finished, phases] = await Promise.all([
      records.finals.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray(),
      phasesOf(records, ids),
    ]);
    const done = new Set(finished.map((d) => d._id));
    for (const id of ids) {
      if (done.has(id)) continue;
      const record = merge(id, phases.get(id) ?? [], undefined);
      if (record?.status === status) found.push(record);
    }
    if (docs.length < batch) return pageOf(found.slice(0, q.limit), found.length > q.limit);
  }
  if (found.length > q.limit) return pageOf(found.slice(0, q.limit), true);
  // The scan bound stopped us: the next page goes on from the last document examined.
  return { invocations: found, next: cursor && cursor.id !== undefined ? { at: cursor.at, id: cursor.id } : undefined };
}

function pageOf(invocations: InvocationRecord[], more: boolean): QueryPage {
  const last = invocations[invocations.length - 1];
  return more && last ? { invocations, next: positionOf(last) } : { invocations };
}

const positionOf = (r: InvocationRecord): Position => ({ at: Date.parse(r.enqueuedAt), id: r.invocationId });

export function newestFirst<P extends Position>(positions: P[]): P[] {
  return positions.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/**
 * Incarnations, time bounds and cursor as a filter; `idField` is where the collection keeps the invocation id.
 * One clause per incarnation, so MongoDB serves each from the (functionName, incarnation, enqueuedAt) index.
 */
export function baseFilter(q: Pick<InvocationQuery, "scopes" | "before" | "since">, idField: "_id" | "invocationId"): Record<string, unknown> {
  const and: Record<string, unknown>[] = [scopeFilter(q.scopes)];
  if (q.since !== undefined) and.push({ enqueuedAt: { $gte: new Date(q.since) } });
  if (q.before !== undefined) {
    const at = new Date(q.before.at);
    if (q.before.id === undefined) and.push({ enqueuedAt: { $lt: at } });
    else and.push({ $or: [{ enqueuedAt: { $lt: at } }, { enqueuedAt: at, [idField]: { $lt: q.before.id } }] });
  }
  return and.length === 1 ? and[0]! : { $and: and };
}

export function scopeFilter(scopes: Incarnated[]): Record<string, unknown> {
  const clauses = scopes.map((s) => ({ functionName: s.functionName, incarnation: s.incarnation }));
  return clauses.length === 1 ? clauses[0]! : { $or: clauses };
}

async function phasesOf(records: InvocationRecords, ids: string[]): Promise<Map<string, PhaseDoc[]>> {
  const byId = new Map<string, PhaseDoc[]>();
  if (ids.length === 0) return byId;
  const wanted = ids.flatMap((id) => [phaseId(id, "queued"), phaseId(id, "running")]);
  for (const d of await records.phases.find({ _id: { $in: wanted } }).toArray()) {
    byId.set(d.invocationId, [...(byId.get(d.invocationId) ?? []), d]);
  }
  return byId;
}
