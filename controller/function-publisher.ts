// Mirrors function definitions from MongoDB into the NATS bucket that gateways and agents read,
// so the hot path never touches MongoDB.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import type { Logger } from "pino";
import { LIMITS } from "../shared/limits.js";
import type { StoredDefinition } from "../shared/schemas/function.js";
import { latestKey, parseVersionKey, versionKey } from "../shared/subjects.js";
import { WeftError } from "../shared/errors.js";
import type { FunctionStore, LiveFunction } from "./function-store.js";

/** What the bucket accepts per value (shared/nats.ts openFunctionsBucket). */
export const MAX_DEFINITION_BYTES = LIMITS.definitionBytes;

const CAS_RETRIES = 5;

export interface ReconcileReport {
  versionsWritten: number;
  latestWritten: number;
  latestRemoved: number;
  /** Version keys of incarnations that have ended (a DELETE whose purge did not finish). */
  versionsRemoved: number;
}

/** What identifies a definition held in the bucket: its incarnation and version. */
interface Held {
  incarnation: string;
  version: number;
}

export class FunctionPublisher {
  private kv: Promise<KV> | undefined;

  constructor(
    private readonly openBucket: () => Promise<KV>,
    private readonly log: Logger,
  ) {}

  /** Forgets the bucket handle: after NATS lost its store the bucket must be created again. */
  reopen(): void {
    this.kv = undefined;
  }

  /** Writes the version key, then moves the latest key forward to it. */
  async publish(def: StoredDefinition): Promise<void> {
    const kv = await this.bucket();
    const data = JSON.stringify(def);
    await kv.put(versionKey(def.name, def.incarnation, def.version), data);
    await this.advanceLatest(kv, def, data);
  }

  /**
   * Writes a version again after its build changed (the only part of a version that changes): its version key,
   * and the latest key when that still holds this very version.
   */
  async republish(def: StoredDefinition): Promise<void> {
    const kv = await this.bucket();
    const data = JSON.stringify(def);
    await kv.put(versionKey(def.name, def.incarnation, def.version), data);
    const key = latestKey(def.name);
    for (let attempt = 1; ; attempt++) {
      const current = await kv.get(key);
      const held = heldIn(current);
      if (!current || held?.incarnation !== def.incarnation || held?.version !== def.version) return;
      try {
        await kv.update(key, data, current.revision);
        return;
      } catch (err) {
        if (!isWrongLastSequence(err) || attempt >= CAS_RETRIES) throw err;
      }
    }
  }

  /** Removes the latest key: gateways and agents stop taking the function's invocations at once. */
  async unpublish(name: string): Promise<void> {
    const kv = await this.bucket();
    await kv.delete(latestKey(name));
  }

  /**
   * Purges version keys of an incarnation that has ended (code and env included). Nothing needs them: a job of
   * a deleted incarnation is refused, and a running invocation already holds its definition.
   */
  async purgeVersions(name: string, incarnation: string, versions: readonly number[]): Promise<number> {
    const kv = await this.bucket();
    for (const v of versions) await kv.purge(versionKey(name, incarnation, v));
    return versions.length;
  }

  /**
   * Makes the bucket match MongoDB: every stored version of a live function present, each live function's
   * latest key at its latest version, no latest key for a function MongoDB does not hold as live.
   */
  async reconcile(store: FunctionStore): Promise<ReconcileReport> {
    const kv = await this.bucket();
    const keys = await allKeys(kv);
    const report: ReconcileReport = { versionsWritten: 0, latestWritten: 0, latestRemoved: 0, versionsRemoved: 0 };
    // Read after the keys: a version key listed above whose incarnation is not live here has ended for good
    // (an incarnation never comes back), so removing it cannot race a PUT.
    const live = await store.liveFunctions();
    for (const fn of live) {
      await skipIfGone(() => this.reconcileFunction(kv, keys, store, fn, report));
    }
    const liveIncarnations = new Map(live.map((f) => [f.name, f.incarnation]));
    for (const key of keys) {
      if (key.includes(".")) {
        const held = parseVersionKey(key);
        if (held && liveIncarnations.get(held.name) === held.incarnation) continue;
        await kv.purge(key);
        report.versionsRemoved++;
        continue;
      }
      if (liveIncarnations.has(key)) continue;
      if (await this.removeStaleLatest(kv, store, key)) report.latestRemoved++;
    }
    return report;
  }

  private async reconcileFunction(
    kv: KV,
    keys: Set<string>,
    store: FunctionStore,
    fn: LiveFunction,
    report: ReconcileReport,
  ): Promise<void> {
    for (const v of await store.versionNumbers(fn.name, fn.incarnation, fn.latestVersion)) {
      const key = versionKey(fn.name, fn.incarnation, v);
      if (keys.has(key)) continue;
      const def = await store.get(fn.name, v);
      // Deleted and created again since liveFunctions() was read: the next pass mirrors the new incarnation.
      if (def.incarnation !== fn.incarnation) return;
      await kv.put(key, JSON.stringify(def));
      report.versionsWritten++;
    }
    if (await this.repairLatest(kv, store, fn)) report.latestWritten++;
  }

  /**
   * Deletes a latest key MongoDB does not hold as live. The entry is read before MongoDB is asked, and the
   * delete is conditional on its revision: a PUT committed after the check publishes a new revision and wins.
   */
  private async removeStaleLatest(kv: KV, store: FunctionStore, name: string): Promise<boolean> {
    const entry = await kv.get(name);
    if (!entry || entry.operation !== "PUT") return false;
    if (await store.isLive(name)) return false;
    try {
      await kv.delete(name, { previousSeq: entry.revision });
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  private bucket(): Promise<KV> {
    this.kv ??= this.openBucket().catch((err: unknown) => {
      this.kv = undefined;
      throw err;
    });
    return this.kv;
  }

  /**
   * Within an incarnation the latest key only moves forward (compare-and-set on the key's revision), so
   * concurrent PUTs may finish in any order. Another incarnation's definition is replaced: writes to one name
   * are serialised (write-queue.ts), so it is an earlier life. `force` lets reconcile move it back when
   * MongoDB says so (e.g. a database restored).
   */
  private async advanceLatest(kv: KV, def: StoredDefinition, data: string, force = false): Promise<boolean> {
    const key = latestKey(def.name);
    for (let attempt = 1; ; attempt++) {
      const current = await kv.get(key);
      const held = heldIn(current);
      if (held?.incarnation === def.incarnation && (held.version === def.version || (held.version > def.version && !force))) {
        return false;
      }
      try {
        if (current) await kv.update(key, data, current.revision);
        else await kv.create(key, data);
        return true;
      } catch (err) {
        if (!isWrongLastSequence(err) || attempt >= CAS_RETRIES) throw err;
      }
    }
  }

  private async repairLatest(kv: KV, store: FunctionStore, fn: LiveFunction): Promise<boolean> {
    const held = heldIn(await kv.get(latestKey(fn.name)));
    if (held?.incarnation === fn.incarnation && held.version === fn.latestVersion) return false;
    // A PUT may have committed since liveFunctions() was read: ask MongoDB again before moving back.
    const def = await store.get(fn.name);
    const force = held !== undefined && held.incarnation === def.incarnation && held.version > def.version;
    if (force) this.log.warn({ fn: fn.name, bucket: held.version, mongo: def.version }, "bucket ahead of MongoDB; MongoDB wins");
    return this.advanceLatest(kv, def, JSON.stringify(def), force);
  }
}

/** A function deleted while reconcile ran is left to the DELETE that removed it. */
async function skipIfGone(step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    if (!(err instanceof WeftError && err.code === "NOT_FOUND")) throw err;
  }
}

/** A definition without an incarnation (written before incarnations existed) counts as another life. */
function heldIn(entry: KvEntry | null): Held | undefined {
  if (!entry || entry.operation !== "PUT") return undefined;
  const { incarnation, version } = entry.json<{ incarnation?: unknown; version?: unknown }>();
  return typeof version === "number" ? { incarnation: typeof incarnation === "string" ? incarnation : "", version } : undefined;
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

async function allKeys(kv: KV): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const key of await kv.keys()) keys.add(key);
  return keys;
}
