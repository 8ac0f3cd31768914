// Function definitions as the agent sees them: the controller's NATS KV bucket, watched for latest versions
// (so deletes and updates reach the pool at once) and read on demand for pinned versions (immutable, cached).
import type { KV, KvEntry } from "@nats-io/kv";
import { FunctionWatch } from "../shared/function-watch.js";
import type { Logger } from "../shared/logger.js";
import { FunctionDefinition } from "../shared/schemas/function.js";
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

  /** The latest definition, or undefined when the function does not exist (or was deleted). */
  async latest(name: string): Promise<FunctionDefinition | undefined> {
    const cached = this.latestDefs.get(name);
    if (cached) return cached.def;
    const entry = await this.kv.get(latestKey(name));
    if (entry) this.apply(entry);
    return this.latestDefs.get(name)?.def;
  }

  async version(name: string, version: number): Promise<FunctionDefinition | undefined> {
    const key = versionKey(name, version);
    const cached = this.versions.get(key);
    if (cached) return cached;
    const latest = this.latestDefs.get(name)?.def;
    if (latest?.version === version) return latest;
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== "PUT") return undefined;
    const def = this.parse(entry);
    if (!def) return undefined;
    if (this.versions.size >= MAX_VERSIONS) this.versions.delete(this.versions.keys().next().value!);
    this.versions.set(key, def);
    return def;
  }

  private apply(entry: KvEntry): void {
    const name = entry.key;
    const known = Math.max(this.latestDefs.get(name)?.revision ?? 0, this.deletedAt.get(name) ?? 0);
    if (entry.revision <= known) return;
    if (entry.operation !== "PUT") {
      this.latestDefs.delete(name);
      this.deletedAt.set(name, entry.revision);
      this.events.deleted(name);
      return;
    }
    const def = this.parse(entry);
    if (!def) return;
    this.latestDefs.set(name, { def, revision: entry.revision });
    this.deletedAt.delete(name);
    this.events.latest(def);
  }

  private parse(entry: KvEntry): FunctionDefinition | undefined {
    try {
      return FunctionDefinition.parse(entry.json());
    } catch (err) {
      this.log.error({ err, key: entry.key, revision: entry.revision }, "invalid function definition in the bucket");
      return undefined;
    }
  }
}
