// Per-minute metrics rollups, so metrics over a day read a handful of documents instead of every record.
//
// A rollup document holds one function's minutes of one 6-hour block (by enqueue time), as JSON text:
// `{"<minute of the block>": OutcomeSummary}`, and their sum over the block. Each controller claims its own
// document per block (see owned-documents.ts), adds the finals it stored to it in memory, and rewrites it at most
// every flushMs. A reader adds up the blocks the window covers: the block the window starts in minute by minute,
// the others by their sums (nothing is enqueued in the future, so the current block's sum is its minutes so far).
// The minute is the resolution: a window starts at the beginning of the minute it falls in.
//
// A final is counted when its record is first inserted (a redelivered duplicate is not counted again). A controller
// that dies loses the counts it had not flushed yet (at most flushMs of them); its records are unaffected.
import type { Collection, Db } from "mongodb";
import type { Logger } from "pino";
import type { FunctionMetrics, RecordEvent } from "../shared/schemas/invocation.js";
import { isMongoUnavailable } from "./database.js";
import { addOutcome, addSummary, emptySummary, toFunctionMetrics, type OutcomeSummary } from "./metrics.js";
import { claimSlot, inParallel, slotId } from "./owned-documents.js";
import { scopeOf } from "./invocation-pages.js";
import type { RecordHeads } from "./record-heads.js";

export const ROLLUP_BLOCK_MS = 6 * 3600_000;
const MINUTE_MS = 60_000;
/** A block no write touched for this long is forgotten (its document stays). */
const IDLE_BLOCK_MS = 10 * 60_000;
const READ_WIDTH = 12;

export interface RollupDoc {
  _id: string;
  scope: string;
  block: Date;
  slot: number;
  updatedAt: Date;
  totalJson: string;
  minutesJson: string;
}

interface OwnedBlock {
  scope: string;
  block: number;
  slot: number | undefined;
  minutes: Map<number, OutcomeSummary>;
  dirty: boolean;
  touchedAt: number;
}

function totalOf(minutes: Iterable<OutcomeSummary>): OutcomeSummary {
  const total = emptySummary();
  for (const m of minutes) addSummary(total, m);
  return total;
}

function addMinutes(total: OutcomeSummary, start: number, minutes: Record<string, OutcomeSummary>, since: number, now: number): void {
  for (const [m, summary] of Object.entries(minutes)) {
    const at = start + Number(m) * MINUTE_MS;
    if (at >= since && at <= now) addSummary(total, summary);
  }
}

export const blockOf = (ms: number): number => Math.floor(ms / ROLLUP_BLOCK_MS) * ROLLUP_BLOCK_MS;
export const blockKey = (scope: string, block: number): string => `${scope}|${new Date(block).toISOString()}`;

export class MetricsRollups {
  readonly collection: Collection<RollupDoc>;
  private readonly owned = new Map<string, OwnedBlock>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failing = false;

  constructor(
    db: Db,
    private readonly heads: RecordHeads,
    private readonly flushMs: number,
    private readonly log: Logger,
  ) {
    this.collection = db.collection<RollupDoc>("invocation_rollups");
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
  }

  /** Writes what is left; bounded by the caller's stop deadline. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Counts newly stored finals (in memory until the next flush). */
  add(finals: readonly RecordEvent[]): void {
    const now = Date.now();
    for (const ev of finals) {
      const block = blockOf(ev.enqueuedAt);
      const scope = scopeOf(ev);
      const key = blockKey(scope, block);
      let owned = this.owned.get(key);
      if (!owned) {
        owned = { scope, block, slot: undefined, minutes: new Map(), dirty: false, touchedAt: now };
        this.owned.set(key, owned);
      }
      const minute = Math.floor((ev.enqueuedAt - block) / MINUTE_MS);
      let summary = owned.minutes.get(minute);
      if (!summary) owned.minutes.set(minute, (summary = emptySummary()));
      addOutcome(summary, ev);
      owned.dirty = true;
      owned.touchedAt = now;
    }
  }

  /** Writes every changed block; a second call while one runs waits for it. Failures are retried next time. */
  flush(): Promise<void> {
    this.flushing ??= this.writeDirty().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async writeDirty(): Promise<void> {
    const now = Date.now();
    const dirty = [...this.owned.entries()].filter(([, o]) => o.dirty);
    try {
      await inParallel(dirty, READ_WIDTH, ([key, o]) => this.write(key, o));
      if (this.failing) this.log.info("metrics rollups written again");
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn({ err }, isMongoUnavailable(err) ? "MongoDB unavailable; metrics rollups held in memory" : "metrics rollup write failed");
      this.failing = true;
    }
    for (const [key, o] of this.owned) if (!o.dirty && now - o.touchedAt > IDLE_BLOCK_MS) this.owned.delete(key);
  }

  private async write(key: string, o: OwnedBlock): Promise<void> {
    o.dirty = false;
    const doc = (slot: number): RollupDoc => ({
      _id: slotId(key, slot),
      scope: o.scope,
      block: new Date(o.block),
      slot,
      updatedAt: new Date(),
      totalJson: JSON.stringify(totalOf(o.minutes.values())),
      minutesJson: JSON.stringify(Object.fromEntries(o.minutes)),
    });
    try {
      if (o.slot === undefined) {
        // The head first: retention purges a scope's blocks from its head's rollupsFrom on, so a block written
        // before its head knew of it (the head's write failing after the block's) would never be purged.
        await this.heads.rollupWritten(o.scope, new Date(o.block));
        o.slot = await claimSlot(this.collection, key, 0, doc);
      } else {
        await this.collection.replaceOne({ _id: slotId(key, o.slot) }, doc(o.slot), { upsert: true });
      }
    } catch (err) {
      o.dirty = true;
      throw err;
    }
  }

  /** Metrics of one scope's finished invocations enqueued in the last `windowMs` (named after the scope). */
  async read(scope: string, windowMs: number, now = Date.now()): Promise<FunctionMetrics> {
    const since = Math.floor((now - windowMs) / MINUTE_MS) * MINUTE_MS;
    const blocks = await this.blocksFrom(scope, since, now);
    const total = emptySummary();
    await inParallel(blocks, READ_WIDTH, async (b) => {
      const whole = b >= since;
      // This controller's own slot is read from memory: counts not written yet are included.
      const mine = this.owned.get(blockKey(scope, b));
      for (const doc of await this.blockDocs(blockKey(scope, b), whole)) {
        if (mine && doc.slot === mine.slot) continue;
        if (whole) addSummary(total, JSON.parse(doc.totalJson) as OutcomeSummary);
        else addMinutes(total, doc.block.getTime(), JSON.parse(doc.minutesJson) as Record<string, OutcomeSummary>, since, now);
      }
      if (mine && whole) addSummary(total, totalOf(mine.minutes.values()));
      else if (mine) addMinutes(total, mine.block, Object.fromEntries(mine.minutes), since, now);
    });
    return toFunctionMetrics(total, scope, windowMs);
  }

  /**
   * One scope's finished invocations minute by minute, from `since` (the start of a minute) up to now: each
   * minute's start (ms) and summary. Metrics over time (GET /v1/metrics) add these up into their steps.
   */
  async minutes(scope: string, since: number, now = Date.now()): Promise<Map<number, OutcomeSummary>> {
    const out = new Map<number, OutcomeSummary>();
    const take = (start: number, minutes: Record<string, OutcomeSummary>) => {
      for (const [m, summary] of Object.entries(minutes)) {
        const at = start + Number(m) * MINUTE_MS;
        if (at < since || at > now) continue;
        const into = out.get(at) ?? emptySummary();
        addSummary(into, summary);
        out.set(at, into);
      }
    };
    const blocks = await this.blocksFrom(scope, since, now);
    const read = await inParallel(blocks, READ_WIDTH, (b) => this.blockDocs(blockKey(scope, b), false));
    blocks.forEach((b, i) => {
      // This controller's own slot is read from memory: counts not written yet are included.
      const mine = this.owned.get(blockKey(scope, b));
      for (const doc of read[i]!) if (!mine || doc.slot !== mine.slot) take(doc.block.getTime(), JSON.parse(doc.minutesJson) as Record<string, OutcomeSummary>);
      if (mine) take(mine.block, Object.fromEntries(mine.minutes));
    });
    return out;
  }

  /**
   * The blocks from `since` to `now` that can hold a scope's rollups: from its head's rollupsFrom (recorded before
   * any of its blocks is written) or this controller's own blocks not written yet, whichever is older. A 30-day
   * window of a function invoked today reads one block, not 120 (two look-ups each: 5 to 15 s on a loaded machine).
   */
  private async blocksFrom(scope: string, since: number, now: number): Promise<number[]> {
    let first = (await this.heads.get(scope))?.rollupsFrom?.getTime() ?? Infinity;
    for (const o of this.owned.values()) if (o.scope === scope) first = Math.min(first, o.block);
    const blocks: number[] = [];
    for (let b = Math.max(blockOf(since), first); b <= now; b += ROLLUP_BLOCK_MS) blocks.push(b);
    return blocks;
  }

  /** Every writer's document of one block: slots are taken from 0 up, so the first missing one ends them. */
  private async blockDocs(key: string, totalOnly: boolean): Promise<RollupDoc[]> {
    const options = totalOnly ? { projection: { minutesJson: 0 } } : {};
    const find = (s: number) => this.collection.findOne({ _id: slotId(key, s) }, options) as Promise<RollupDoc | null>;
    const [first, second] = await Promise.all([find(0), find(1)]);
    const docs = [first, second].filter((d): d is RollupDoc => d !== null);
    if (!first || !second) return docs;
    for (let s = 2; ; s++) {
      const d = await find(s);
      if (!d) return docs;
      docs.push(d);
    }
  }

  /** Deletes every writer's document of one block; returns how many went. */
  async purgeBlock(scope: string, block: number): Promise<number> {
    const key = blockKey(scope, block);
    let deleted = 0;
    for (let s = 0; ; s++) {
      const r = await this.collection.deleteOne({ _id: slotId(key, s) });
      if (r.deletedCount === 0) return deleted;
      deleted++;
    }
  }
}
