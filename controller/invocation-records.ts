// Invocation records in MongoDB, written from RecordEvents and read back in the InvocationRecord shape.
//
// Every phase of an invocation is an immutable fact stored once, by insert:
//   `invocations`        the final phase, _id = invocationId (status, output, error, timings, logs, agent);
//   `invocation_phases`  the queued and running phases, _id = "<invocationId>.<phase>".
// A read merges them (queued, then running, then final fields), and status is derived: the final status when
// there is one, else running once started, else queued. A phase delivered twice hits its own _id and is
// skipped, so events apply in any order, any number of times (the records stream is at-least-once).
//
// Why inserts and not the upserts of one growing document: FerretDB 1.24 on SQLite rewrites documents at a
// cost that grows with the collection (19 ms per update at 5,000 records, against 1.3 ms per insert), and an
// update command of 100 or more statements never answers. Inserts stay cheap there and on MongoDB alike.
//
// Records belong to one incarnation of their function (shared/schemas/function.ts): reads are scoped to the
// live incarnation, so a deleted function's records (outputs, logs, events) are never shown again, even under a
// function created again with its name; DELETE also purges them.
//
// Event and output are stored as JSON text (eventJson, outputJson): user keys such as "$x" or "a.b" can never
// break a write, and a payload cut at its limit stays representable.
import { MongoBulkWriteError, type Collection, type Db, type OptionalUnlessRequiredId } from "mongodb";
import { DUPLICATE_KEY, dropIndexIfPresent, isDuplicateKey } from "./database.js";
import type { FinalStatus, InvocationError, InvocationRecord, RecordEvent } from "../shared/schemas/invocation.js";

/** The fields a phase document may hold; the final document is the whole record of a finished invocation. */
export interface InvocationDoc {
  _id: string;
  functionName: string;
  enqueuedAt: Date;
  kind?: RecordEvent["kind"];
  version?: number;
  incarnation?: string;
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

type EarlyPhase = "queued" | "running";
export type PhaseDoc = Omit<InvocationDoc, "status" | "outputJson" | "outputTruncated" | "error" | "durationMs" | "logs" | "logsTruncated" | "finishedAt"> & {
  invocationId: string;
  phase: EarlyPhase;
};

/** The fields metrics read from a finished invocation. */
export type OutcomeDoc = Pick<InvocationDoc, "status" | "coldStart" | "durationMs">;

export interface ApplyOutcome {
  /** Indexes of the events MongoDB refused to store (the rest are stored). */
  rejected: number[];
  reason?: string;
}

type Fields = Partial<Omit<InvocationDoc, "_id" | "enqueuedAt">>;

/** One incarnation of a function: the scope of every read. */
export interface Incarnated {
  functionName: string;
  incarnation: string;
}

/** A record as read by id, with the incarnation it belongs to (absent when no phase named one). */
export interface StoredRecord {
  record: InvocationRecord;
  incarnation: string | undefined;
}

/** Indexes of the record collections before incarnations: reads no longer use them. */
const LEGACY_INDEX = "functionName_1_enqueuedAt_-1";

const EARLY_PHASES: readonly EarlyPhase[] = ["queued", "running"];

export const phaseId = (invocationId: string, phase: EarlyPhase): string => `${invocationId}.${phase}`;

export class InvocationRecords {
  readonly finals: Collection<InvocationDoc>;
  readonly phases: Collection<PhaseDoc>;

  constructor(db: Db) {
    this.finals = db.collection<InvocationDoc>("invocations");
    this.phases = db.collection<PhaseDoc>("invocation_phases");
  }

  async ensureIndexes(): Promise<void> {
    await this.finals.createIndex({ functionName: 1, incarnation: 1, enqueuedAt: -1 });
    await this.phases.createIndex({ functionName: 1, incarnation: 1, enqueuedAt: -1 });
    // Each index costs every insert: the old one goes once the new one is there.
    await dropIndexIfPresent(this.finals, LEGACY_INDEX);
    await dropIndexIfPresent(this.phases, LEGACY_INDEX);
  }

  /**
   * Stores a batch with one unordered insert per collection. Phases already stored are skipped; a document
   * MongoDB refuses does not stop the others, and the indexes of its events come back in `rejected`.
   * MongoDB being unreachable throws.
   */
  async apply(events: readonly RecordEvent[]): Promise<ApplyOutcome> {
    const { finals, phases } = documentsFor(events);
    const a = await insertNew(this.finals, finals);
    const b = await insertNew(this.phases, phases);
    return { rejected: [...a.rejected, ...b.rejected], reason: a.reason ?? b.reason };
  }

  async get(invocationId: string): Promise<StoredRecord | undefined> {
    const [final, phases] = await Promise.all([
      this.finals.findOne({ _id: invocationId }),
      this.phases.find({ _id: { $in: EARLY_PHASES.map((p) => phaseId(invocationId, p)) } }).toArray(),
    ]);
    const doc = mergeDoc(invocationId, phases, final ?? undefined);
    return doc && { record: toRecord(doc), incarnation: doc.incarnation };
  }

  /** The newest records of one incarnation of a function by enqueue time, finished or not. */
  async list(fn: Incarnated, limit: number): Promise<InvocationRecord[]> {
    const newest = { sort: { enqueuedAt: -1, _id: -1 }, limit } as const;
    const scope = { functionName: fn.functionName, incarnation: fn.incarnation };
    const [finals, recent] = await Promise.all([
      this.finals.find(scope, newest).toArray(),
      // Up to two phase documents per invocation: 2 × limit of them cover `limit` unfinished invocations.
      this.phases.find(scope, { ...newest, limit: 2 * limit }).toArray(),
    ]);
    const enqueued = new Map<string, number>();
    for (const d of [...finals, ...recent]) {
      const id = idOf(d);
      enqueued.set(id, Math.min(enqueued.get(id) ?? Infinity, d.enqueuedAt.getTime()));
    }
    const top = [...enqueued.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1))
      .slice(0, limit)
      .map(([id]) => id);
    const phases = await this.phasesOf(top);
    const finalById = new Map(finals.map((d) => [d._id, d]));
    return top.flatMap((id) => merge(id, phases.get(id) ?? [], finalById.get(id)) ?? []);
  }

  /** Finished invocations of one incarnation enqueued since `since`, newest first, with only the fields metrics need. */
  outcomesSince(fn: Incarnated, since: Date, max: number): AsyncIterable<OutcomeDoc> {
    return this.finals
      .find(
        { functionName: fn.functionName, incarnation: fn.incarnation, enqueuedAt: { $gte: since } },
        { projection: { _id: 0, status: 1, coldStart: 1, durationMs: 1 } },
      )
      .sort({ enqueuedAt: -1 })
      .limit(max);
  }

  /** Removes an ended incarnation's records (what an invocation still finishing writes later is never read). */
  async purge(fn: Incarnated): Promise<number> {
    const scope = { functionName: fn.functionName, incarnation: fn.incarnation };
    const [finals, phases] = await Promise.all([this.finals.deleteMany(scope), this.phases.deleteMany(scope)]);
    return finals.deletedCount + phases.deletedCount;
  }

  private async phasesOf(ids: string[]): Promise<Map<string, PhaseDoc[]>> {
    const byId = new Map<string, PhaseDoc[]>();
    if (ids.length === 0) return byId;
    const docs = await this.phases.find({ _id: { $in: ids.flatMap((id) => EARLY_PHASES.map((p) => phaseId(id, p))) } }).toArray();
    for (const d of docs) byId.set(d.invocationId, [...(byId.get(d.invocationId) ?? []), d]);
    return byId;
  }
}

const idOf = (d: InvocationDoc | PhaseDoc): string => ("invocationId" in d ? d.invocationId : d._id);

interface Planned<D> {
  doc: D;
  /** Indexes into the batch of the events this document stands for (duplicates included). */
  events: number[];
}

/** One document per (invocation, phase); a phase repeated in the batch is stored once, the first copy wins. */
export function documentsFor(events: readonly RecordEvent[]): { finals: Planned<InvocationDoc>[]; phases: Planned<PhaseDoc>[] } {
  const finals = new Map<string, Planned<InvocationDoc>>();
  const phases = new Map<string, Planned<PhaseDoc>>();
  events.forEach((ev, i) => {
    if (ev.phase === "final") {
      const planned = finals.get(ev.invocationId);
      if (planned) planned.events.push(i);
      else finals.set(ev.invocationId, { doc: { _id: ev.invocationId, enqueuedAt: new Date(ev.enqueuedAt), ...fieldsOf(ev) } as InvocationDoc, events: [i] });
      return;
    }
    const id = phaseId(ev.invocationId, ev.phase);
    const planned = phases.get(id);
    if (planned) planned.events.push(i);
    else {
      const doc = { _id: id, invocationId: ev.invocationId, phase: ev.phase, enqueuedAt: new Date(ev.enqueuedAt), ...fieldsOf(ev) };
      phases.set(id, { doc: doc as PhaseDoc, events: [i] });
    }
  });
  return { finals: [...finals.values()], phases: [...phases.values()] };
}

/** Inserts what is not stored yet; a duplicate _id means that phase is already stored, which is success. */
async function insertNew<D extends { _id: string }>(collection: Collection<D>, planned: Planned<D>[]): Promise<ApplyOutcome> {
  if (planned.length === 0) return { rejected: [] };
  try {
    await collection.insertMany(
      planned.map((p) => p.doc as OptionalUnlessRequiredId<D>),
      { ordered: false },
    );
    return { rejected: [] };
  } catch (err) {
    const writeErrors = err instanceof MongoBulkWriteError ? [err.writeErrors].flat() : [];
    if (writeErrors.length === 0) {
      if (isDuplicateKey(err)) return { rejected: [] };
      throw err;
    }
    const refused = writeErrors.filter((e) => e.code !== DUPLICATE_KEY);
    return { rejected: refused.flatMap((e) => planned[e.index]?.events ?? []), reason: refused[0]?.errmsg };
  }
}

/** The fields one event carries; undefined values are left out. */
export function fieldsOf(ev: RecordEvent): Fields {
  const all: Fields = {
    functionName: ev.functionName,
    kind: ev.kind,
    version: ev.version,
    incarnation: ev.incarnation,
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

const PHASE_ORDER: Record<EarlyPhase, number> = { queued: 0, running: 1 };

/** Later phases' fields win; the earliest enqueuedAt any phase claims is the record's. */
export function merge(invocationId: string, phases: PhaseDoc[], final: InvocationDoc | undefined): InvocationRecord | undefined {
  const doc = mergeDoc(invocationId, phases, final);
  return doc && toRecord(doc);
}

function mergeDoc(invocationId: string, phases: PhaseDoc[], final: InvocationDoc | undefined): InvocationDoc | undefined {
  if (!final && phases.length === 0) return undefined;
  const parts: Array<InvocationDoc | PhaseDoc> = [...phases].sort((a, b) => PHASE_ORDER[a.phase] - PHASE_ORDER[b.phase]);
  if (final) parts.push(final);
  const doc: InvocationDoc = { _id: invocationId, functionName: "", enqueuedAt: parts[0]!.enqueuedAt };
  for (const part of parts) {
    const { _id, enqueuedAt, ...fields } = part;
    delete (fields as Partial<PhaseDoc>).invocationId;
    delete (fields as Partial<PhaseDoc>).phase;
    Object.assign(doc, fields);
    if (enqueuedAt < doc.enqueuedAt) doc.enqueuedAt = enqueuedAt;
  }
  return doc;
}

/** The API shape: parsed payloads, ISO dates, derived status. */
export function toRecord(doc: InvocationDoc): InvocationRecord {
  const record: InvocationRecord = {
    invocationId: doc._id,
    functionName: doc.functionName,
    ...(doc.kind ? { kind: doc.kind } : {}),
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
