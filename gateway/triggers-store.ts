// Where triggers live: the weft-triggers KV bucket (key = trigger id, value = StoredTrigger), declared by the
// controller with the rest of the topology, written by whichever gateway takes the PUT, watched by every gateway
// (triggers-runner.ts). Counters live beside it in weft-trigger-stats, one key per trigger, which every gateway adds
// its own counts to with compare-and-set, so they survive restarts and add up across gateways.
import type { KV } from "@nats-io/kv";
import { unavailable } from "../shared/errors.js";
import type { Logger } from "../shared/logger.js";
import { StoredTrigger } from "../shared/schemas/trigger.js";

export interface Counts {
  delivered: number;
  failed: number;
}

/** Counts are written at most this often per gateway (a gateway killed in between loses those counts only). */
export const STATS_FLUSH_MS = 1000;
const CAS_ATTEMPTS = 5;

export class TriggersStore {
  constructor(
    readonly kv: KV,
    private readonly stats: KV,
  ) {}

  async get(id: string): Promise<{ trigger: StoredTrigger; revision: number } | undefined> {
    const entry = await this.kv.get(id).catch((err: unknown) => {
      throw unavailable("the triggers bucket (NATS KV weft-triggers)", err);
    });
    if (!entry || entry.operation !== "PUT") return undefined;
    return { trigger: StoredTrigger.parse(entry.json()), revision: entry.revision };
  }

  async list(): Promise<StoredTrigger[]> {
    try {
      const out: StoredTrigger[] = [];
      for await (const key of await this.kv.keys()) {
        const got = await this.get(key);
        if (got) out.push(got.trigger);
      }
      return out.sort((a, b) => a.id.localeCompare(b.id));
    } catch (err) {
      throw unavailable("the triggers bucket (NATS KV weft-triggers)", err);
    }
  }

  /** Writes the trigger; with `revision`, only if nobody wrote it since (else undefined). */
  async put(t: StoredTrigger, revision?: number): Promise<number | undefined> {
    try {
      if (revision === undefined) return await this.kv.put(t.id, JSON.stringify(t));
      return await this.kv.update(t.id, JSON.stringify(t), revision);
    } catch (err) {
      if (revision !== undefined && /wrong last sequence/i.test((err as Error).message)) return undefined;
      throw unavailable("the triggers bucket (NATS KV weft-triggers)", err);
    }
  }

  async delete(id: string): Promise<void> {
    try {
      await this.kv.delete(id);
      await this.stats.delete(id);
    } catch (err) {
      throw unavailable("the triggers bucket (NATS KV weft-triggers)", err);
    }
  }

  async counts(id: string): Promise<Counts> {
    const entry = await this.stats.get(id).catch(() => null);
    if (!entry || entry.operation !== "PUT") return { delivered: 0, failed: 0 };
    return entry.json<Counts>();
  }

  /** Adds to a trigger's counters (compare-and-set, retried on a concurrent write); false if it could not. */
  async add(id: string, delta: Counts): Promise<boolean> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      try {
        const entry = await this.stats.get(id);
        if (!entry || entry.operation !== "PUT") {
          await this.stats.create(id, JSON.stringify(delta));
        } else {
          const now = entry.json<Counts>();
          await this.stats.update(id, JSON.stringify({ delivered: now.delivered + delta.delivered, failed: now.failed + delta.failed }), entry.revision);
        }
        return true;
      } catch {
        // A concurrent writer (another gateway) won this round, or NATS is away: read again and retry.
      }
    }
    return false;
  }
}

/** One gateway's counts not yet written, flushed every STATS_FLUSH_MS. */
export class TriggerCounters {
  private readonly pending = new Map<string, Counts>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: TriggersStore,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), STATS_FLUSH_MS);
    this.timer.unref();
  }

  count(id: string, outcome: "delivered" | "failed"): void {
    const c = this.pending.get(id) ?? { delivered: 0, failed: 0 };
    c[outcome]++;
    this.pending.set(id, c);
  }

  /** This gateway's counts not yet written (added to what the store has, so a read sees its own gateway's work). */
  unflushed(id: string): Counts {
    return this.pending.get(id) ?? { delivered: 0, failed: 0 };
  }

  forget(id: string): void {
    this.pending.delete(id);
  }

  async flush(): Promise<void> {
    for (const [id, delta] of [...this.pending]) {
      this.pending.delete(id);
      if (await this.store.add(id, delta)) continue;
      // Put back what could not be written, added to whatever arrived meanwhile.
      const now = this.pending.get(id) ?? { delivered: 0, failed: 0 };
      this.pending.set(id, { delivered: now.delivered + delta.delivered, failed: now.failed + delta.failed });
      this.log.warn({ trigger: id }, "trigger counters not written; kept for the next flush");
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
