// Invocation records in MongoDB: one document per invocation (_id = invocationId), built up from RecordEvents.
//
// Each phase $sets only its own fields and enqueuedAt takes the earliest claim ($min), so events apply in any
// order, any number of times (the records stream is at-least-once). Event and output are stored as JSON text
// (eventJson, outputJson): user keys such as "$x" or "a.b" can never break a write, and a cut payload stays
// representable. Status is derived on read: the final status when present, else running once started, else queued.
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Db } from "mongodb";
import type { FinalStatus, InvocationError, InvocationRecord, RecordEvent } from "../shared/schemas/invocation.js";

export interface InvocationDoc {
  _id: string;
  functionName: string;
  enqueuedAt: Date;
  version?: number;
  async?: boolean;
  traceId?: string;
  eventJson?: string;
  eventTruncated?: boolean;
  agent?: string;
  startedAt?: Date;
  coldStart?: boolean;
  attempt?: number;
  status?: FinalStatus;
  outputJson?: string;
  outputTruncated?: boolean;
  error?: InvocationError;
  durationMs?: number;
  logs?: string;
  logsTruncated?: boolean;
  finishedAt?: Date;
}

/** The fields metrics read from a finished invocation. */
export type OutcomeDoc = Pick<InvocationDoc, "status" | "coldStart" | "durationMs">;

type Fields = Partial<Omit<InvocationDoc, "_id" | "enqueuedAt">>;

export class InvocationRecords {
  readonly collection: Collection<InvocationDoc>;

  constructor(db: Db) {
    this.collection = db.collection<InvocationDoc>("invocations");
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ functionName: 1, enqueuedAt: -1 });
  }

  /**
   * Writes a batch as one unordered bulk of upserts, one per invocation (events of the same invocation in a
   * batch are merged first). A refused document does not stop the others: the indexes of the events whose
   * write was refused come back in `rejected`. MongoDB being unreachable throws.
   */
  async apply(events: readonly RecordEvent[]): Promise<ApplyOutcome> {
    const ops = bulkOperations(events);
    if (ops.length === 0) return { rejected: [] };
    try {
      await this.collection.bulkWrite(
        ops.map((o) => o.op),
        { ordered: false },
      );
      return { rejected: [] };
    } catch (err) {
      const writeErrors = err instanceof MongoBulkWriteError ? [err.writeErrors].flat() : [];
      if (writeErrors.length === 0) throw err;
      return {
        rejected: writeErrors.flatMap((e) => ops[e.index]?.events ?? []),
        reason: writeErrors[0]?.errmsg,
      };
    }
  }

  async get(invocationId: string): Promise<InvocationRecord | undefined> {
    const doc = await this.collection.findOne({ _id: invocationId });
    return doc ? toRecord(doc) : undefined;
  }

  /** The newest records of a function, by enqueue time. */
  async list(functionName: string, limit: number): Promise<InvocationRecord[]> {
    const docs = await this.collection.find({ functionName }).sort({ enqueuedAt: -1, _id: -1 }).limit(limit).toArray();
    return docs.map(toRecord);
  }

  /** Finished invocations enqueued since `since`, newest first, with only the fields metrics need. */
  outcomesSince(functionName: string, since: Date, max: number): AsyncIterable<OutcomeDoc> {
    return this.collection
      .find(
        { functionName, enqueuedAt: { $gte: since }, status: { $exists: true } },
        { projection: { _id: 0, status: 1, coldStart: 1, durationMs: 1 } },
      )
      .sort({ enqueuedAt: -1 })
      .limit(max);
  }
}

export interface ApplyOutcome {
  /** Indexes of the events MongoDB refused to store (the rest are written). */
  rejected: number[];
  reason?: string;
}

export interface BulkOperation {
  op: AnyBulkWriteOperation<InvocationDoc>;
  /** Indexes into the events given to bulkOperations. */
  events: number[];
}

const PHASE_RANK = { queued: 0, running: 1, final: 2 } as const;

/** One upsert per invocation; within an invocation, later phases' fields win over earlier ones. */
export function bulkOperations(events: readonly RecordEvent[]): BulkOperation[] {
  const groups = new Map<string, number[]>();
  events.forEach((ev, i) => {
    const group = groups.get(ev.invocationId);
    if (group) group.push(i);
    else groups.set(ev.invocationId, [i]);
  });
  return [...groups.entries()].map(([id, indexes]) => {
    const ordered = [...indexes].sort((a, b) => PHASE_RANK[events[a]!.phase] - PHASE_RANK[events[b]!.phase]);
    const fields: Fields = {};
    let enqueuedAt = Infinity;
    for (const i of ordered) {
      Object.assign(fields, fieldsOf(events[i]!));
      enqueuedAt = Math.min(enqueuedAt, events[i]!.enqueuedAt);
    }
    const op: AnyBulkWriteOperation<InvocationDoc> = {
      updateOne: {
        filter: { _id: id },
        update: { $set: fields, $min: { enqueuedAt: new Date(enqueuedAt) } },
        upsert: true,
      },
    };
    return { op, events: indexes };
  });
}

/** The fields one event sets; undefined values are left out so they never erase another phase's data. */
export function fieldsOf(ev: RecordEvent): Fields {
  const all: Fields = {
    functionName: ev.functionName,
    version: ev.version,
    traceId: ev.traceId,
    // Any phase may carry the event; it is the same text whichever does.
    eventJson: ev.event,
    eventTruncated: ev.eventTruncated,
    ...(ev.phase === "queued" ? { async: ev.async } : startFields(ev)),
    ...(ev.phase === "final" ? finalFields(ev) : {}),
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as Fields;
}

function startFields(ev: RecordEvent): Fields {
  return {
    agent: ev.agent,
    startedAt: ev.startedAt === undefined ? undefined : new Date(ev.startedAt),
    coldStart: ev.coldStart,
    attempt: ev.attempt,
  };
}

function finalFields(ev: RecordEvent): Fields {
  return {
    status: ev.status,
    outputJson: ev.output,
    outputTruncated: ev.outputTruncated,
    error: ev.error,
    durationMs: ev.durationMs,
    logs: ev.logs,
    logsTruncated: ev.logsTruncated,
    finishedAt: ev.finishedAt === undefined ? undefined : new Date(ev.finishedAt),
  };
}

/** The API shape: parsed payloads, ISO dates, derived status. */
export function toRecord(doc: InvocationDoc): InvocationRecord {
  const record: InvocationRecord = {
    invocationId: doc._id,
    functionName: doc.functionName,
    version: doc.version,
    status: doc.status ?? (doc.startedAt ? "running" : "queued"),
    async: doc.async,
    traceId: doc.traceId,
    event: payload(doc.eventJson, doc.eventTruncated),
    eventTruncated: doc.eventTruncated,
    output: payload(doc.outputJson, doc.outputTruncated),
    outputTruncated: doc.outputTruncated,
    error: doc.error,
    durationMs: doc.durationMs,
    coldStart: doc.coldStart,
    agent: doc.agent,
    attempt: doc.attempt,
    logs: doc.logs,
    logsTruncated: doc.logsTruncated,
    enqueuedAt: doc.enqueuedAt.toISOString(),
    startedAt: doc.startedAt?.toISOString(),
    finishedAt: doc.finishedAt?.toISOString(),
  };
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as InvocationRecord;
}

/** A cut payload is no longer valid JSON: it is returned as the text that was kept. */
function payload(json: string | undefined, truncated: boolean | undefined): unknown {
  if (json === undefined) return undefined;
  if (truncated) return json;
  try {
    return JSON.parse(json);
  } catch {
    // Producers send JSON text; anything else is shown as the text it is rather than failing the read.
    return json;
  }
}
