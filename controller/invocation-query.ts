// The invocation history across functions (or of one), newest first, filtered by status and time, in pages.
//
// It reads what each live incarnation's listing pages hold (InvocationRecords.list: by _id, never a scan of
// the record collections), so it reaches back MAX_SCAN records per function, as GET /v1/functions/{name}/invocations
// does. Order is (enqueuedAt, invocationId) descending, and a page ends at a cursor of that pair, so paging never
// skips nor repeats a record that shares its millisecond with the page's last one.
import { LIMITS } from "../shared/limits.js";
import type { QueryInvocationsResult } from "../shared/schemas/controller-api.js";
import type { InvocationRecord, InvocationStatus } from "../shared/schemas/invocation.js";
import type { Incarnated, InvocationRecords } from "./invocation-records.js";
import { inParallel } from "./owned-documents.js";

export interface InvocationQuery {
  /** The live incarnations to read; none means an empty history. */
  scopes: Incarnated[];
  status?: InvocationStatus;
  limit: number;
  before?: { at: number; id?: string };
  since?: number;
}

export type Position = NonNullable<QueryInvocationsResult["next"]>;

/** Records of one function examined at most: the reach of the per-function listing. */
export const MAX_SCAN = LIMITS.listLimit.max;
/** Functions read at once. */
const READ_WIDTH = 8;

const positionOf = (r: InvocationRecord): Position => ({ at: Date.parse(r.enqueuedAt), id: r.invocationId });

/** Newest first; a tie in time goes by id, descending (as a cursor compares). */
export function newestFirst(a: Position, b: Position): number {
  return b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Whether a record belongs in the query's page: its status, and a position within the time bounds and cursor. */
export function matches(q: Omit<InvocationQuery, "scopes" | "limit">, r: InvocationRecord): boolean {
  if (q.status !== undefined && r.status !== q.status) return false;
  const p = positionOf(r);
  if (q.since !== undefined && p.at < q.since) return false;
  if (q.before === undefined) return true;
  return p.at < q.before.at || (p.at === q.before.at && q.before.id !== undefined && p.id < q.before.id);
}

export async function queryInvocations(records: InvocationRecords, q: InvocationQuery): Promise<QueryInvocationsResult> {
  const found = (await inParallel(q.scopes, READ_WIDTH, (fn) => matchingOf(records, fn, q))).flat();
  found.sort((a, b) => newestFirst(positionOf(a), positionOf(b)));
  const page = found.slice(0, q.limit);
  const last = page[page.length - 1];
  return found.length > q.limit && last ? { invocations: page, next: positionOf(last) } : { invocations: page };
}

/**
 * One function's `limit + 1` newest matching records (one more than a page shows, to know if another follows).
 * The newest records are read first; only when the filters leave too few is a longer stretch read.
 */
async function matchingOf(records: InvocationRecords, fn: Incarnated, q: InvocationQuery): Promise<InvocationRecord[]> {
  const want = q.limit + 1;
  for (let n = want; ; n = Math.min(n * 4, MAX_SCAN)) {
    const newest = await records.list(fn, n);
    const hits = newest.filter((r) => matches(q, r));
    const olderThanSince = q.since !== undefined && newest.some((r) => Date.parse(r.enqueuedAt) < q.since!);
    if (hits.length >= want || newest.length < n || n >= MAX_SCAN || olderThanSince) return hits.slice(0, want);
  }
}
