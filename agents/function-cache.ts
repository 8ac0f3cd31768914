// Function definitions as the agent sees them: the controller's NATS KV bucket, watched for latest versions
// (so deletes and updates reach the pool at once) and read on demand for pinned versions (immutable, cached,
// keyed by incarnation: a version of a deleted function never answers for one created again under its name).
import type { KV, KvEntry } from "@nats-io/kv";
import { FunctionWatch } from "../shared/function-watch.js";
import type { Logger } from "../shared/logger.js";
import { StoredDefinition, type FunctionDefinition } from "../shared/schemas/function.js";
import { latestKey, versionKey } from "../shared/subjects.js";

export interface FunctionEvents {
  latest(def: FunctionDefinition): void;
  deleted(name: string): void;
}

interface Cached {
  def: FunctionDefinition;
  revision: number;
}

/** Pinned versions kept in memory; they never change, so the cache only has to bound its size. */
const MAX_VERSIONS = 512;

export class FunctionCache {
  private readonly latestDefs = new Map<string, Cached>();
  /** Revision of the newest delete seen per name, so a slower read cannot resurrect a deleted function. */
  private readonly deletedAt = new Map<string, number>();
  private readonly versions = new Map<string, FunctionDefinition>();
  private readonly watch: FunctionWatch;

  constructor(
    private readonly kv: KV,
    private readonly events: FunctionEvents,
    private readonly log: Logger,
  ) {
    this.watch = new FunctionWatch(kv, (entry) => this.apply(entry), log);
  }

  /** Watches the latest keys, restarting the watch if it ever ends. */
  async start(): Promise<void> {
    await this.watch.start();
  }

  async stop(): Promise<void> {
    this.watch.stop();
  }

  /**
   * The latest definition, or undefined when the function does not exist (or was deleted). A job names the
   * incarnation its gateway resolved; when that is not the one held here, the watch may lag behind the gateway
   * (a function deleted and created again a moment ago), so the bucket is asked.
   */
  async latest(name: string, incarnation?: string): Promise<FunctionDefinition | undefined> {
    const cached = this.latestDefs.get(name);
    if (cached && (incarnation === undefined || cached.def.incarnation === incarnation)) return cached.def;
    const entry = await this.kv.get(latestKey(name));
    if (entry) this.apply(entry);
    return this.latestDefs.get(name)?.def;
  }

  /** One immutable version of one incarnation; undefined when it does not exist. */
  async version(name: string, incarnation: string, version: number): Promise<FunctionDefinition | undefined> {
    const key = versionKey(name, incarnation, version);
    const cached = this.versions.get(key);
    if (cached) return cached;
    const latest = this.latestDefs.get(name)?.def;
    // A latest still building here may be ready in the bucket already (the gateway saw it so): read the bucket then.
    if (latest?.incarnation === incarnation && latest.version === version && latest.build?.status !== "building") return latest;
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== "PUT") return undefined;
    const def = this.parse(entry);
    if (!def) return undefined;
    // A bundle's version changes once, when its build ends: only then is it kept.
    if (def.build?.status === "building") return def;
    if (this.versions.size >= MAX_VERSIONS) this.versions.delete(this.versions.keys().next().value!);
    this.versions.set(key, def);
    return def;
  }

  private apply(entry: KvEntry): void {
    const name = entry.key;
    const known = Math.max(this.latestDefs.get(name)?.revision ?? 0, this.deletedAt.get(name) ?? 0);
    if (entry.revision <= known) return;
    const before = this.latestDefs.get(name)?.def;
    if (entry.operation !== "PUT") {
      this.latestDefs.delete(name);
      this.deletedAt.set(name, entry.revision);
      if (before) this.forgetVersions(name, before.incarnation);
      this.events.deleted(name);
      return;
    }
    const def = this.parse(entry);
    if (!def) return;
    if (before && before.incarnation !== def.incarnation) this.forgetVersions(name, before.incarnation);
    this.latestDefs.set(name, { def, revision: entry.revision });
    this.deletedAt.delete(name);
    this.events.latest(def);
  }

  /** An ended incarnation's versions are never asked for again: free them. */
  private forgetVersions(name: string, incarnation: string): void {
    const prefix = `${name}.${incarnation}.`;
    for (const key of this.versions.keys()) if (key.startsWith(prefix)) this.versions.delete(key);
  }

  private parse(entry: KvEntry): FunctionDefinition | undefined {
    try {
      return StoredDefinition.parse(entry.json()); // keeps what TypeScript compiled to
    } catch (err) {
      this.log.error({ err, key: entry.key, revision: entry.revision }, "invalid function definition in the bucket");
      return undefined;
    }
  }
}
