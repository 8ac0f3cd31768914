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
//
// A document holds `_id`, the fields one filters on by hand (functionName, enqueuedAt, status; invocationId and
// phase in a phase document) and every other field as one JSON text, `fieldsJson` (storedDoc, readDoc): FerretDB
// on SQLite costs per field it stores, and a final record of a dozen fields as one text took half its CPU per
// record. Documents stored before that are read as they are.
//
// Every read is a look-up by _id, the one filter FerretDB on SQLite answers from an index: a record is its three
// documents by _id; a function's newest records come from its listing pages (invocation-pages.ts) and its metrics
// from per-minute rollups (metrics-rollups.ts), both written here as records are stored.
import { MongoBulkWriteError, type Collection, type Db, type OptionalUnlessRequiredId } from "mongodb";
import type { Logger } from "pino";
import { DUPLICATE_KEY, dropIndexIfPresent, isDuplicateKey } from "./database.js";
import { InvocationPages, scopeOf, type Listed, type PageDoc } from "./invocation-pages.js";
import { MetricsRollups, ROLLUP_BLOCK_MS, blockOf } from "./metrics-rollups.js";
import { chunks, inParallel } from "./owned-documents.js";
import { RecordHeads } from "./record-heads.js";
import type { FinalStatus, FunctionMetrics, InvocationError, InvocationRecord, RecordEvent } from "../shared/schemas/invocation.js";

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
  attempts?: RecordEvent["attempts"];
}

/** A record document as stored: the filterable fields, the rest in `fieldsJson`, or (stored before) every field. */
export type StoredDoc = { _id: string; fieldsJson?: string } & Partial<Omit<InvocationDoc, "_id"> & Pick<PhaseDoc, "invocationId" | "phase">>;

type EarlyPhase = "queued" | "running";
export type PhaseDoc = Omit<InvocationDoc, "status" | "attempts" | "outputJson" | "outputTruncated" | "error" | "durationMs" | "logs" | "logsTruncated" | "finishedAt"> & {
  invocationId: string;
  phase: EarlyPhase;
};

export interface ApplyOutcome {
  /** Indexes of the events MongoDB refused to store (the rest are stored). */
  rejected: number[];
  reason?: string;
}

interface InsertOutcome extends ApplyOutcome {
  /** Indexes of the planned documents this insert stored (not refused, not already there). */
  inserted: number[];
}

export interface RecordViewsOptions {
  /** Metrics rollups are written at most this often. */
  rollupFlushMs: number;
}

const HYDRATE_WIDTH = 8;
/** Delete statements per command: FerretDB runs them one by one, and a long command holds its write lock. */
const DELETES_PER_COMMAND = 100;

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

/** Indexes earlier versions created for scans nobody makes any more. */
const LEGACY_INDEXES = ["functionName_1_enqueuedAt_-1", "functionName_1_incarnation_1_enqueuedAt_-1"];

const EARLY_PHASES: readonly EarlyPhase[] = ["queued", "running"];

export const phaseId = (invocationId: string, phase: EarlyPhase): string => `${invocationId}.${phase}`;

export class InvocationRecords {
  readonly finals: Collection<StoredDoc>;
  readonly phases: Collection<StoredDoc>;
  readonly heads: RecordHeads;
  readonly pages: InvocationPages;
  readonly rollups: MetricsRollups;

  constructor(db: Db, opts: RecordViewsOptions, log: Logger) {
    this.finals = db.collection<StoredDoc>("invocations");
    this.phases = db.collection<StoredDoc>("invocation_phases");
    this.heads = new RecordHeads(db);
    this.pages = new InvocationPages(db, this.heads, log);
    this.rollups = new MetricsRollups(db, this.heads, opts.rollupFlushMs, log);
  }

  /** Every collection is read by _id only, so the _id index is the only one needed. */
  async ensureIndexes(): Promise<void> {
    // Each index costs every insert, and nothing reads by them any more.
    for (const name of LEGACY_INDEXES) {
      await dropIndexIfPresent(this.finals, name);
      await dropIndexIfPresent(this.phases, name);
    }
  }

  /**
   * Stores a batch with one unordered insert per collection. Phases already stored are skipped; a document
   * MongoDB refuses does not stop the others, and the indexes of its events come back in `rejected`. Every
   * event is first copied to its function's listing page (so a record GET finds is always listed), and finals
   * stored for the first time are counted in the metrics rollups. MongoDB being unreachable throws; calling
   * again with the same events is safe.
   */
  async apply(events: readonly RecordEvent[]): Promise<ApplyOutcome> {
    await this.pages.write(events);
    const { finals, phases } = documentsFor(events);
    // Phases before finals: a reader that finds a final also finds the queued phase (and event) that came with
    // it, so a finished async record never reads without its event (a parallel insert let CI see that).
    const b = await insertNew(this.phases, phases.map(stored));
    const a = await insertNew(this.finals, finals.map(stored));
    this.rollups.add(a.inserted.map((i) => events[finals[i]!.events[0]!]!));
    return { rejected: [...a.rejected, ...b.rejected], reason: a.reason ?? b.reason };
  }

  async get(invocationId: string): Promise<StoredRecord | undefined> {
    const queuedId = phaseId(invocationId, "queued");
    const [final, early] = await Promise.all([this.final(invocationId), this.phase(queuedId)]);
    // The two reads race a batch being stored: the queued phase may have been read just before it was stored
    // with the final found. Phases are stored first, so reading it again after the final settles it.
    const queued = final && !early && final.eventJson === undefined ? await this.phase(queuedId) : early;
    // A finished record usually carries everything its running phase had: one look-up fewer on the hot read.
    const running = final && !runningPhaseAdds(final, queued) ? null : await this.phase(phaseId(invocationId, "running"));
    const doc = mergeDoc(invocationId, [queued, running].filter((d): d is PhaseDoc => d !== null), final ?? undefined);
    return doc && { record: toRecord(doc), incarnation: doc.incarnation };
  }

  private async final(invocationId: string): Promise<InvocationDoc | null> {
    const doc = await this.finals.findOne({ _id: invocationId });
    return doc && (readDoc(doc) as InvocationDoc);
  }

  private async phase(id: string): Promise<PhaseDoc | null> {
    const doc = await this.phases.findOne({ _id: id });
    return doc && (readDoc(doc) as PhaseDoc);
  }

  /** The newest records of one incarnation of a function by enqueue time, finished or not. */
  async list(fn: Incarnated, limit: number): Promise<InvocationRecord[]> {
    const listed = await this.pages.newest(scopeOf(fn), limit);
    const records = await inParallel(listed, HYDRATE_WIDTH, async (l) => (complete(l) ? fromPages(l) : (await this.get(l.invocationId))?.record));
    return records.filter((r): r is InvocationRecord => r !== undefined);
  }

  /** Metrics of one incarnation over the last `windowMs`, from the per-minute rollups. */
  async metrics(fn: Incarnated, windowMs: number, now?: number): Promise<FunctionMetrics> {
    return { ...(await this.rollups.read(scopeOf(fn), windowMs, now)), functionName: fn.functionName };
  }

  /**
   * Removes an ended incarnation's records, listing pages and rollups, page by page by _id (what an invocation
   * still finishing writes later is never read, and retention removes it). Returns the records removed.
   */
  async purge(fn: Incarnated, now = Date.now()): Promise<number> {
    const scope = scopeOf(fn);
    const head = await this.heads.get(scope);
    if (!head) return 0;
    let purged = 0;
    for (let n = head.tail; n <= head.head + 1; n++) {
      const page = await this.pages.page(scope, n);
      if (page) purged += await this.purgePage(page);
      await this.heads.purged(scope, { tail: n + 1 });
    }
    for (let b = head.rollupsFrom?.getTime() ?? blockOf(now); b <= now; b += ROLLUP_BLOCK_MS) await this.rollups.purgeBlock(scope, b);
    await this.heads.collection.deleteOne({ _id: scope });
    return purged;
  }

  /** Deletes a listing page's invocations (their three documents), then the page; returns how many it held. */
  async purgePage(page: PageDoc): Promise<number> {
    const ids = (JSON.parse(page.entriesJson) as Array<[string, unknown]>).map(([id]) => id);
    await deleteByIds(this.finals as unknown as Collection<{ _id: string }>, ids);
    await deleteByIds(
      this.phases as unknown as Collection<{ _id: string }>,
      ids.flatMap((id) => EARLY_PHASES.map((p) => phaseId(id, p))),
    );
    await this.pages.collection.deleteOne({ _id: page._id });
    return ids.length;
  }
}

/** Found whole in pages: finished, and its event is at hand (a sync call's final carries it, else the queued phase). */
function complete(l: Listed): boolean {
  return l.phases.final !== undefined && (l.phases.queued !== undefined || l.phases.final.event !== undefined);
}

async function deleteByIds(collection: Collection<{ _id: string }>, ids: string[]): Promise<void> {
  for (const chunk of chunks(ids, DELETES_PER_COMMAND)) {
    await collection.bulkWrite(chunk.map((id) => ({ deleteOne: { filter: { _id: id } } })), { ordered: false });
  }
}

function fromPages(l: Listed): InvocationRecord | undefined {
  const { finals, phases } = documentsFor(Object.values(l.phases));
  return merge(l.invocationId, phases.map((p) => p.doc), finals[0]?.doc);
}

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

/** The fields a document keeps as fields; the others go into `fieldsJson`. */
const FILTERABLE = new Set(["_id", "functionName", "enqueuedAt", "status", "invocationId", "phase"]);
/**
 * Dates inside `fieldsJson` (JSON writes them as ISO text; readDoc turns them back): every Date of InvocationDoc
 * but enqueuedAt, which stays a field. A Date field added to InvocationDoc belongs here.
 */
const DATES_IN_TEXT = ["startedAt", "finishedAt"] as const;

/** A record document as stored (see the top of this file). */
export function storedDoc(doc: InvocationDoc | PhaseDoc): StoredDoc {
  const out: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) (FILTERABLE.has(k) ? out : rest)[k] = v;
  out.fieldsJson = JSON.stringify(rest);
  return out as StoredDoc;
}

/**
 * A stored record document with every field in place, whichever way it was stored. A `fieldsJson` that is not a
 * JSON object (the document edited by hand) gives the record its own fields only, and a date that does not parse
 * is left out: a read never fails on one damaged document.
 */
export function readDoc(stored: StoredDoc): InvocationDoc | PhaseDoc {
  const { fieldsJson, ...top } = stored;
  if (typeof fieldsJson !== "string") return top as InvocationDoc;
  const fields = parseObject(fieldsJson);
  for (const k of DATES_IN_TEXT) {
    if (!(k in fields)) continue;
    const date = typeof fields[k] === "string" ? new Date(fields[k] as string) : undefined;
    if (date && !Number.isNaN(date.getTime())) fields[k] = date;
    else delete fields[k];
  }
  return { ...fields, ...top } as InvocationDoc | PhaseDoc;
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const stored = <D extends InvocationDoc | PhaseDoc>(p: Planned<D>): Planned<StoredDoc> => ({ doc: storedDoc(p.doc), events: p.events });

/** Inserts what is not stored yet; a duplicate _id means that phase is already stored, which is success. */
async function insertNew<D extends { _id: string }>(collection: Collection<D>, planned: Planned<D>[]): Promise<InsertOutcome> {
  const all = planned.map((_, i) => i);
  if (planned.length === 0) return { rejected: [], inserted: [] };
  try {
    await collection.insertMany(
      planned.map((p) => p.doc as OptionalUnlessRequiredId<D>),
      { ordered: false },
    );
    return { rejected: [], inserted: all };
  } catch (err) {
    const writeErrors = err instanceof MongoBulkWriteError ? [err.writeErrors].flat() : [];
    if (writeErrors.length === 0) {
      if (isDuplicateKey(err)) return { rejected: [], inserted: [] };
      throw err;
    }
    const failed = new Set(writeErrors.map((e) => e.index));
    const refused = writeErrors.filter((e) => e.code !== DUPLICATE_KEY);
    return {
      rejected: refused.flatMap((e) => planned[e.index]?.events ?? []),
      reason: refused[0]?.errmsg,
      inserted: all.filter((i) => !failed.has(i)),
    };
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
    attempts: ev.attempts,
  };
}

const PHASE_ORDER: Record<EarlyPhase, number> = { queued: 0, running: 1 };

/** Later phases' fields win; the earliest enqueuedAt any phase claims is the record's. */
export function merge(invocationId: string, phases: PhaseDoc[], final: InvocationDoc | undefined): InvocationRecord | undefined {
  const doc = mergeDoc(invocationId, phases, final);
  return doc && toRecord(doc);
}

/**
 * Whether the running phase can add to a final record and its queued phase: the agent's final carries the
 * running phase's fields (agent, attempt, startedAt, version, trace id) except, when it was salvaged or ended by
 * the controller, the start and the incarnation.
 */
function runningPhaseAdds(final: InvocationDoc, queued: PhaseDoc | null): boolean {
  return final.startedAt === undefined || (final.incarnation === undefined && queued?.incarnation === undefined);
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
    attempts: doc.attempts?.map((a) => ({ ...a, startedAt: new Date(a.startedAt).toISOString(), finishedAt: new Date(a.finishedAt).toISOString() })),
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
