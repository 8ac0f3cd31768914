// Listing pages: a function's records in the order the controller stored them, a page at a time, so "the newest
// 50" reads one or two documents by _id instead of sorting the function's records.
//
// Records are listed per incarnation of a function (its scope, scopeOf). Page `<scope>|<n>` holds up to
// PAGE_ENTRIES (50) invocations as JSON text: for each, the phases (RecordEvents) this
// controller stored into the page. A controller claims page n by inserting it (owned-documents.ts), fills it batch
// by batch (rewriting it before the batch is acked), and claims n+1 when it is full. The record collections stay
// the source of truth (GET reads them); a page is a copy made for listing, and it goes when retention purges it.
//
// Reading newest first: each page carries the latest enqueue time of every page before it (`maxBefore`, kept by
// its writer), so once the limit-th newest enqueue time collected is later than that of the oldest page read, no
// older page can hold a newer record; reading stops. A listed invocation whose pages lack its final phase, or the
// queued phase that carries an async call's event, is read from the record collections instead.
import { MongoBulkWriteError, type Collection, type Db } from "mongodb";
import type { Logger } from "pino";
import type { RecordEvent } from "../shared/schemas/invocation.js";
import { DUPLICATE_KEY, isMongoUnavailable } from "./database.js";
import { chunks, claimSlot, inParallel, slotId } from "./owned-documents.js";
import type { RecordHeads } from "./record-heads.js";

export const PAGE_ENTRIES = 50;
/**
 * Page rewrites per bulk command, and one such bulk at a time. FerretDB 1.24 never answers an update command of 100
 * statements or more (and holds the collection's lock until it restarts); 99 return. It holds a connection of its
 * pool of 100 per statement until the command ends, so bulks and single updates in flight together must stay well
 * under that too (MONGO_MAX_POOL in database.ts).
 */
export const REPLACES_PER_COMMAND = 20;
/** Pages rewritten one by one (after a bulk was refused), this many at a time. */
const SINGLE_SAVES_AT_ONCE = 4;
/** A page holding this many bytes of JSON is full whatever its count (payloads can be 256 KiB each). */
const PAGE_BYTES = 512 * 1024;
/** A listing reads at most this many pages; past them the oldest candidates are returned as found. */
const MAX_PAGES_READ = 64;
const FIRST_READ_WIDTH = 2;
const READ_WIDTH = 4;
/** An open page no batch touched for this long is forgotten (its document stays; the next batch opens another). */
const IDLE_PAGE_MS = 60_000;
/** Open pages kept in memory (at most PAGE_BYTES each); the least recently written are forgotten first. */
const MAX_OPEN_PAGES = 256;

type Phase = RecordEvent["phase"];
type Phases = Partial<Record<Phase, RecordEvent>>;

export interface PageDoc {
  _id: string;
  scope: string;
  n: number;
  openedAt: Date;
  updatedAt: Date;
  count: number;
  /** The latest enqueue time in this page, and in every page before it (ms). */
  maxEnqueuedAt: number;
  maxBefore: number;
  /** `[invocationId, Phases][]`, JSON text: user keys in payloads never meet MongoDB's field-name rules. */
  entriesJson: string;
}

interface OpenPage {
  n: number | undefined;
  openedAt: number;
  /** Undefined until known: a writer that has not written this function yet reads it from the page before. */
  maxBefore: number | undefined;
  maxEnqueuedAt: number;
  entries: Map<string, Phases>;
  /**
   * Each entry's JSON text (`[id, phases]`), kept beside it: a page is rewritten with every batch that adds to it,
   * and re-serialising all its entries each time made a page of 50 cost up to 50 records' JSON per batch.
   */
  texts: Map<string, string>;
  bytes: number;
  touchedAt: number;
}

/** An invocation as found in pages: its phases, and the earliest enqueue time any phase gave. */
export interface Listed {
  invocationId: string;
  enqueuedAt: number;
  phases: Phases;
}

/** The key of one incarnation's pages, head and rollups: `<name>@<incarnation>` (records before incarnations: the name). */
export function scopeOf(r: { functionName: string; incarnation?: string | undefined }): string {
  return r.incarnation ? `${r.functionName}@${r.incarnation}` : r.functionName;
}

export class InvocationPages {
  readonly collection: Collection<PageDoc>;
  private readonly open = new Map<string, OpenPage>();
  /** The newest page number known per function, so a claim starts past it. */
  private readonly known = new Map<string, number>();

  constructor(
    db: Db,
    private readonly heads: RecordHeads,
    private readonly log: Logger,
  ) {
    this.collection = db.collection<PageDoc>("invocation_pages");
  }

  /**
   * Adds stored events to their functions' open pages and writes those pages: the pages already claimed in
   * bulks of REPLACES_PER_COMMAND, the new ones claimed per function. A refusal other than MongoDB being
   * unreachable is logged and skipped: the records are stored, only their listing copy is missing.
   */
  async write(events: readonly RecordEvent[]): Promise<void> {
    const claimed: Array<[string, OpenPage]> = [];
    const fresh: Array<[string, OpenPage[]]> = [];
    for (const [fn, evs] of byScope(events)) {
      const touched = this.stage(fn, evs);
      for (const p of touched) if (p.n !== undefined) claimed.push([fn, p]);
      const unclaimed = touched.filter((p) => p.n === undefined);
      if (unclaimed.length > 0) fresh.push([fn, unclaimed]);
    }
    await Promise.all([
      this.saveClaimed(claimed),
      inParallel(fresh, SINGLE_SAVES_AT_ONCE, ([fn, pages]) => this.logRefusal(fn, pages, () => this.claimInOrder(fn, pages))),
    ]);
    this.forgetIdle();
  }

  /** Adds a function's events to its open pages (opening new ones as they fill); returns the pages touched. */
  private stage(fn: string, events: RecordEvent[]): OpenPage[] {
    const now = Date.now();
    let page = this.open.get(fn);
    const touched: OpenPage[] = [];
    for (const ev of events) {
      if (!page || (isFull(page) && !page.entries.has(ev.invocationId))) {
        // Unknown until the page before is saved, when that one's own is not known yet.
        const maxBefore = page?.maxBefore === undefined ? undefined : Math.max(page.maxBefore, page.maxEnqueuedAt);
        page = { n: undefined, openedAt: now, maxBefore, maxEnqueuedAt: 0, entries: new Map(), texts: new Map(), bytes: 0, touchedAt: now };
        this.open.set(fn, page);
      }
      if (!touched.includes(page)) touched.push(page);
      addTo(page, ev);
      page.touchedAt = now;
    }
    return touched;
  }

  /** Claimed pages, a bulk at a time (see REPLACES_PER_COMMAND). */
  private async saveClaimed(claimed: Array<[string, OpenPage]>): Promise<void> {
    for (const chunk of chunks(claimed, REPLACES_PER_COMMAND)) await this.saveMany(chunk);
  }

  /**
   * Rewrites claimed pages in one unordered bulk: one command instead of one per function, which with a hundred
   * functions in a batch was most of the controller's CPU per call. A page not matched (retention purged it while
   * it was open) or a refused bulk sends the chunk's pages one at a time, where each is handled on its own.
   */
  private async saveMany(pages: Array<[string, OpenPage]>): Promise<void> {
    if (pages.length > 1) {
      try {
        const ops = pages.map(([fn, p]) => ({ replaceOne: { filter: { _id: slotId(fn, p.n!) }, replacement: pageDoc(fn, p.n!, p) } }));
        const r = await this.collection.bulkWrite(ops, { ordered: false });
        if (r.matchedCount === pages.length) return;
      } catch (err) {
        if (isMongoUnavailable(err)) throw err;
      }
    }
    await inParallel(pages, SINGLE_SAVES_AT_ONCE, ([fn, p]) => this.logRefusal(fn, [p], () => this.save(fn, p)));
  }

  private async logRefusal(fn: string, pages: OpenPage[], work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (isMongoUnavailable(err)) throw err;
      const records = pages.reduce((sum, p) => sum + p.entries.size, 0);
      this.log.error({ err, fn, records }, "listing page refused; records stored but not listed");
    }
  }

  /**
   * Claims new pages in storing order. A writer that knows the next free number inserts them all at once, in
   * order; a page number taken meanwhile (another writer) sends it, and the pages after, one at a time.
   */
  private async claimInOrder(fn: string, pages: OpenPage[]): Promise<void> {
    if (pages.length === 0) return;
    const next = this.known.get(fn);
    let claimed = 0;
    if (next !== undefined && pages[0]!.maxBefore !== undefined) {
      const docs = pages.map((p, i) => pageDoc(fn, next + 1 + i, p));
      try {
        await this.collection.insertMany(docs, { ordered: true });
        claimed = pages.length;
      } catch (err) {
        if (!(err instanceof MongoBulkWriteError) || [err.writeErrors].flat().some((e) => e.code !== DUPLICATE_KEY)) throw err;
        claimed = err.result.insertedCount;
      }
      pages.slice(0, claimed).forEach((p, i) => (p.n = next + 1 + i));
      if (claimed > 0) {
        this.known.set(fn, next + claimed);
        await this.heads.pageClaimed(fn, next + claimed);
      }
    }
    for (const p of pages.slice(claimed)) await this.save(fn, p);
  }

  private async save(fn: string, page: OpenPage): Promise<void> {
    const from = page.n === undefined ? (this.known.get(fn) ?? (await this.heads.get(fn))?.head ?? -1) + 1 : page.n;
    page.maxBefore ??= await this.latestBefore(fn, from);
    const doc = (n: number): PageDoc => pageDoc(fn, n, page);
    if (page.n !== undefined) {
      const r = await this.collection.replaceOne({ _id: slotId(fn, page.n) }, doc(page.n));
      if (r.matchedCount === 1) return;
      // Retention purged it while it was open (another controller's pages went past the cap): claim a new one,
      // never re-create a page below the function's tail, where retention no longer looks.
      page.n = undefined;
      page.maxBefore = undefined;
      return this.save(fn, page);
    }
    page.n = await claimSlot(this.collection, fn, from, doc);
    this.known.set(fn, page.n);
    await this.heads.pageClaimed(fn, page.n);
  }

  /** The latest enqueue time up to page `n` - 1 (another writer's, or an earlier run's); none before page 0. */
  private async latestBefore(fn: string, n: number): Promise<number> {
    if (n <= 0) return 0;
    const prev = await this.page(fn, n - 1);
    // A page that is gone was purged: what it held is older than anything still listed.
    return prev ? Math.max(prev.maxBefore, prev.maxEnqueuedAt) : 0;
  }

  private forgetIdle(): void {
    const now = Date.now();
    for (const [fn, p] of this.open) if (now - p.touchedAt > IDLE_PAGE_MS) this.open.delete(fn);
    // Least recently touched first: Map order is insertion order, so re-inserted pages move to the back.
    while (this.open.size > MAX_OPEN_PAGES) this.open.delete(this.open.keys().next().value!);
  }

  async page(fn: string, n: number): Promise<PageDoc | null> {
    return this.collection.findOne({ _id: slotId(fn, n) });
  }

  /** The `limit` newest invocations of a function found in its pages, newest first by enqueue time. */
  async newest(fn: string, limit: number): Promise<Listed[]> {
    const head = await this.heads.get(fn);
    if (!head || head.head < 0) return [];
    const found = new Map<string, Listed>();
    // The first round also looks one page past the hint, which may lag a claim.
    let above = head.head + 1;
    let n = head.head;
    let read = 0;
    let bound = Infinity;
    while (n >= head.tail && read < MAX_PAGES_READ) {
      // Two pages usually hold the newest records; a deeper listing widens the next rounds.
      const width = read === 0 ? FIRST_READ_WIDTH : READ_WIDTH;
      const numbers = Array.from({ length: Math.min(width, n - head.tail + 1) }, (_, i) => n - i);
      const [next, ...pages] = await Promise.all([above > 0 ? this.page(fn, above) : null, ...numbers.map((k) => this.page(fn, k))]);
      read += numbers.length;
      n -= numbers.length;
      above = next ? above + 1 : 0;
      for (const p of [next, ...pages]) if (p) absorb(found, p);
      const oldest = pages.at(-1);
      if (!oldest) break;
      bound = Math.min(bound, oldest.maxBefore);
      if (above > 0) continue;
      const sorted = newestFirst([...found.values()]);
      if (sorted.length >= limit && sorted[limit - 1]!.enqueuedAt > bound) break;
    }
    return newestFirst([...found.values()]).slice(0, limit);
  }
}

/**
 * Events grouped by scope, each group in storing order. Linear: a batch after a restart can hold tens of thousands of
 * one function's records, and copying the group on every event (as this once did) blocked the event loop for 70 s
 * at 25,000 of them on a loaded machine: no acks, no heartbeats, nothing stored.
 */
export function byScope(events: readonly RecordEvent[]): Map<string, RecordEvent[]> {
  const groups = new Map<string, RecordEvent[]>();
  for (const ev of events) {
    const scope = scopeOf(ev);
    const group = groups.get(scope);
    if (group) group.push(ev);
    else groups.set(scope, [ev]);
  }
  return groups;
}

function pageDoc(scope: string, n: number, page: OpenPage): PageDoc {
  return {
    _id: slotId(scope, n),
    scope,
    n,
    openedAt: new Date(page.openedAt),
    updatedAt: new Date(),
    count: page.entries.size,
    maxEnqueuedAt: page.maxEnqueuedAt,
    maxBefore: page.maxBefore!,
    // The same text as JSON.stringify([...page.entries]), from each entry's kept text.
    entriesJson: `[${[...page.texts.values()].join(",")}]`,
  };
}

function isFull(p: OpenPage): boolean {
  return p.entries.size >= PAGE_ENTRIES || p.bytes >= PAGE_BYTES;
}

/** The first copy of a phase wins, as in the record collections. */
function addTo(page: OpenPage, ev: RecordEvent): void {
  const phases = page.entries.get(ev.invocationId) ?? {};
  if (phases[ev.phase]) return;
  phases[ev.phase] = ev;
  page.maxEnqueuedAt = Math.max(page.maxEnqueuedAt, ev.enqueuedAt);
  // Re-inserting keeps the entries in storing order of their latest phase.
  page.entries.delete(ev.invocationId);
  page.entries.set(ev.invocationId, phases);
  const before = page.texts.get(ev.invocationId);
  const text = JSON.stringify([ev.invocationId, phases]);
  page.texts.delete(ev.invocationId);
  page.texts.set(ev.invocationId, text);
  page.bytes += text.length - (before?.length ?? 0);
}

function absorb(found: Map<string, Listed>, page: PageDoc): void {
  for (const [id, phases] of JSON.parse(page.entriesJson) as Array<[string, Phases]>) {
    const listed = found.get(id) ?? { invocationId: id, enqueuedAt: Infinity, phases: {} };
    for (const ev of Object.values(phases)) {
      listed.phases[ev.phase] ??= ev;
      listed.enqueuedAt = Math.min(listed.enqueuedAt, ev.enqueuedAt);
    }
    found.set(id, listed);
  }
}

function newestFirst(xs: Listed[]): Listed[] {
  return xs.sort((a, b) => b.enqueuedAt - a.enqueuedAt || (a.invocationId < b.invocationId ? 1 : -1));
}
