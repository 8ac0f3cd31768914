// The gateway's view of which functions exist: an in-memory map fed by a watch on the functions bucket, so an
// invocation of an unknown function is refused without any network call. Only latest keys are watched
// ("name"); immutable version keys ("name.<incarnation>.vN") are read on demand for pinned calls and kept,
// keyed by incarnation so a version of a deleted function can never answer for one created again under its name.
import { jetstreamManager } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { FunctionWatch, LATEST_KEYS } from "../shared/function-watch.js";
import { StoredDefinition, summarize, type FunctionSummary } from "../shared/schemas/function.js";
import { FUNCTIONS_BUCKET, versionKey } from "../shared/subjects.js";
import type { Logger } from "../shared/logger.js";

/** What the gateway needs to know of a function: everything but its code. */
export type CachedFunction = FunctionSummary;

const VERSION_CACHE_MAX = 10_000;

interface Waiter {
  name: string;
  satisfied: (fn: CachedFunction | undefined) => boolean;
  resolve: (ok: boolean) => void;
}

export class FunctionCache {
  private readonly latest = new Map<string, CachedFunction>();
  private readonly versions = new Map<string, CachedFunction>();
  private readonly waiters = new Set<Waiter>();
  private readonly watch: FunctionWatch;
  private loaded = false;
  private markLoaded!: () => void;
  /** Resolves once the bucket's current contents have been read. */
  readonly ready: Promise<void> = new Promise((resolve) => (this.markLoaded = resolve));

  constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly log: Logger,
  ) {
    this.watch = new FunctionWatch(kv, (entry) => this.apply(entry), log);
  }

  /** Starts watching; `ready` resolves when the snapshot is in. */
  async start(): Promise<void> {
    if ((await this.countLatestKeys()) === 0) this.setLoaded();
    await this.watch.start();
  }

  get isReady(): boolean {
    return this.loaded;
  }

  get(name: string): CachedFunction | undefined {
    return this.latest.get(name);
  }

  get size(): number {
    return this.latest.size;
  }

  /** One immutable version of one incarnation (network read the first time, then kept); undefined when it does not exist. */
  async version(name: string, incarnation: string, version: number): Promise<CachedFunction | undefined> {
    const key = versionKey(name, incarnation, version);
    const known = this.versions.get(key);
    if (known) return known;
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== "PUT") return undefined;
    const fn = this.parse(entry.value, key);
    // A bundle's version changes once, when its build ends: only then is it kept.
    if (fn && fn.build?.status !== "building") this.keepVersion(key, fn);
    return fn;
  }

  /**
   * Waits (bounded) until the watch shows what a CRUD call just did, so this gateway's next invocation sees
   * its own write. Answers false on timeout; the watch still catches up later.
   */
  waitFor(name: string, satisfied: (fn: CachedFunction | undefined) => boolean, timeoutMs: number): Promise<boolean> {
    if (satisfied(this.latest.get(name))) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = { name, satisfied, resolve: (ok) => { clearTimeout(timer); this.waiters.delete(waiter); resolve(ok); } };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  stop(): void {
    this.watch.stop();
    for (const w of this.waiters) w.resolve(false);
  }

  private async countLatestKeys(): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    const info = await jsm.streams.info(`KV_${FUNCTIONS_BUCKET}`, { subjects_filter: `$KV.${FUNCTIONS_BUCKET}.${LATEST_KEYS}` });
    return Object.keys(info.state.subjects ?? {}).length;
  }

  private apply(entry: KvWatchEntry): void {
    const name = entry.key;
    // A definition that does not parse is unusable (agents read the same key), so it counts as absent.
    const fn = entry.operation === "PUT" ? this.parse(entry.value, name) : undefined;
    const before = this.latest.get(name);
    if (fn) this.latest.set(name, fn);
    else this.latest.delete(name);
    if (before && before.incarnation !== fn?.incarnation) this.forgetVersions(name, before.incarnation);
    // delta is the number of entries still pending behind this one: 0 means the snapshot is complete.
    if (!this.loaded && (entry.isUpdate || entry.delta === 0)) this.setLoaded();
    this.notify(name);
  }

  private parse(value: Uint8Array, key: string): CachedFunction | undefined {
    try {
      const def = StoredDefinition.safeParse(JSON.parse(Buffer.from(value).toString("utf8")));
      if (def.success) return summarize(def.data);
      this.log.error({ key, issue: def.error.issues[0] }, "function definition in the bucket does not match the schema; ignored");
    } catch (err) {
      this.log.error({ key, err }, "function definition in the bucket is not JSON; ignored");
    }
    return undefined;
  }

  private keepVersion(key: string, fn: CachedFunction): void {
    // Versions are immutable, so any may be evicted and re-read; the oldest insertion goes first.
    if (this.versions.size >= VERSION_CACHE_MAX) this.versions.delete(this.versions.keys().next().value!);
    this.versions.set(key, fn);
  }

  /** An ended incarnation's versions are never asked for again (lookups name the live one): free them. */
  private forgetVersions(name: string, incarnation: string): void {
    const prefix = `${name}.${incarnation}.`;
    for (const key of this.versions.keys()) if (key.startsWith(prefix)) this.versions.delete(key);
  }

  private notify(name: string): void {
    const fn = this.latest.get(name);
    for (const w of this.waiters) if (w.name === name && w.satisfied(fn)) w.resolve(true);
  }

  private setLoaded(): void {
    if (this.loaded) return;
    this.loaded = true;
    this.markLoaded();
  }
}
