// A function's recent log lines, read from the controller's listing pages (the invocation history of one function,
// newest first, GET /v1/invocations' read path): never a scan of the record collections.
import { FINAL_STATUSES, type FinalStatus, type InvocationRecord } from "../shared/schemas/invocation.js";
import { linesOf, type LogLine } from "../shared/schemas/function-logs.js";
import type { ControllerClient } from "./controller-client.js";

export interface LogsRead {
  name: string;
  /** Only invocations enqueued at or after this (ms since the epoch). */
  since?: number;
  status?: FinalStatus;
  /** The newest lines wanted. */
  limit: number;
}

/** Records asked for at once: each may carry 256 KiB of logs, and a controller reply must fit a NATS message. */
const RECORDS_PER_READ = 20;
/** Invocations read at most for one answer (how far back lines are looked for when few invocations log much). */
const MAX_RECORDS = 200;

const isFinal = (r: InvocationRecord): r is InvocationRecord & { status: FinalStatus } => (FINAL_STATUSES as readonly string[]).includes(r.status);

/** The newest `limit` lines of the function's ended invocations, oldest first (as a log reads). */
export async function recentLogLines(controller: ControllerClient, q: LogsRead): Promise<LogLine[]> {
  const newestFirst: LogLine[][] = [];
  let found = 0;
  let before: { at: number; id: string } | undefined;
  for (let read = 0; read < MAX_RECORDS && found < q.limit; read += RECORDS_PER_READ) {
    const page = await controller.queryInvocations({ name: q.name, status: q.status, limit: RECORDS_PER_READ, before, since: q.since });
    for (const r of page.invocations.filter(isFinal)) {
      const lines = linesOf({ ...r, finishedAt: r.finishedAt ?? r.enqueuedAt });
      newestFirst.push(lines);
      found += lines.length;
    }
    if (!page.next) break;
    before = page.next;
  }
  return newestFirst.reverse().flat().slice(-q.limit);
}
