// Garbage collection of the build directory: dependency layers (layers/<id>) and versions' files (code/<sha>) that
// no stored version references any more (its function or version was deleted and purged) are removed once they
// have been unreferenced for a grace period, a bounded batch per sweep; staging folders a dead build left are
// removed once older than any build can run. A version references its layer and files from the moment it is
// stored, before its build starts, so a layer in use or being built is never taken.
//
// The grace period is counted in memory from the first sweep that found the entry unreferenced (a restart starts
// it again: later, never sooner). It must outlast the agents' keep-alive: a deleted version's warm containers
// still mount its layer until they are retired.
import { randomBytes } from "node:crypto";
import { readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { BUILD_LAYOUT } from "../../shared/bundle.js";
import { BuildDir } from "./build-dir.js";

/** What the stored versions reference: layer ids and bundle hashes. */
export interface BuildReferences {
  layers: Set<string>;
  bundles: Set<string>;
}

export interface BuildCollectorOptions {
  dir: string;
  intervalMs: number;
  graceMs: number;
  /** Entries removed per sweep at most. */
  batch: number;
  /** A staging folder older than this belongs to no running build (every build is stopped at WEFT_BUILD_TIMEOUT_MS). */
  stagingMaxAgeMs: number;
  /** Reads every stored version's references (MongoDB). */
  references(): Promise<BuildReferences>;
  log: Logger;
}

export interface SweepReport {
  removed: string[];
  /** Unreferenced entries still in their grace period. */
  waiting: number;
  /** Entries found unreferenced again at the last check, and put back. */
  restored: string[];
  /** Due entries left for the next sweep (the batch was full). */
  more: boolean;
}

/** An entry of the build directory: `layers/<id>`, `code/<sha>` or `staging/<name>`. */
type Entry = `${string}/${string}`;

/**
 * The policy, apart from the file system: which unreferenced entries are due (unreferenced for `graceMs` since
 * first seen so), at most `batch` of them, oldest first. `firstSeen` is updated: referenced entries leave it.
 */
export function dueForRemoval(
  present: readonly Entry[],
  isReferenced: (e: Entry) => boolean,
  firstSeen: Map<Entry, number>,
  now: number,
  graceMs: number,
  batch: number,
): { due: Entry[]; waiting: number; more: boolean } {
  const unreferenced = new Set<Entry>();
  for (const e of present) if (!isReferenced(e)) unreferenced.add(e);
  for (const e of firstSeen.keys()) if (!unreferenced.has(e)) firstSeen.delete(e);
  for (const e of unreferenced) if (!firstSeen.has(e)) firstSeen.set(e, now);
  const ripe = [...unreferenced].filter((e) => now - firstSeen.get(e)! >= graceMs).sort((a, b) => firstSeen.get(a)! - firstSeen.get(b)!);
  return { due: ripe.slice(0, batch), waiting: unreferenced.size - ripe.length, more: ripe.length > batch };
}

export class BuildCollector {
  private readonly dir: BuildDir;
  private readonly firstSeen = new Map<Entry, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly opts: BuildCollectorOptions) {
    this.dir = new BuildDir(opts.dir);
  }

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer ??= setInterval(() => {
      this.running ??= this.sweep()
        .then((r) => r.removed.length && this.opts.log.info({ removed: r.removed, more: r.more }, "unreferenced builds removed"))
        .catch((err: unknown) => this.opts.log.warn({ err }, "build garbage collection failed; retrying next interval"))
        .finally(() => (this.running = undefined));
    }, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * One sweep: what is due is first moved aside (one rename each, so no reader sees half of it), the references
   * are read again, and what became referenced meanwhile (a new version with the same dependencies) is put back;
   * the rest is deleted.
   */
  async sweep(now = Date.now()): Promise<SweepReport> {
    const refs = await this.opts.references();
    const present = [...(await this.list(BUILD_LAYOUT.layers)), ...(await this.list(BUILD_LAYOUT.code))];
    const { due, waiting, more } = dueForRemoval(present, (e) => referenced(refs, e), this.firstSeen, now, this.opts.graceMs, this.opts.batch);
    const staging = await this.staleStaging(now, this.opts.batch - due.length);
    const aside = await this.moveAside(due);
    const again = aside.length ? await this.opts.references() : refs;
    const report: SweepReport = { removed: [], waiting, restored: [], more: more || staging.more };
    for (const { entry, path } of aside) {
      if (referenced(again, entry)) {
        // A build may have made it again meanwhile: then the copy set aside goes (same content).
        await this.dir.commit(path, join(this.opts.dir, entry));
        this.firstSeen.delete(entry);
        report.restored.push(entry);
      } else {
        await this.dir.discard(path);
        this.firstSeen.delete(entry);
        report.removed.push(entry);
      }
    }
    for (const entry of staging.entries) {
      await this.dir.discard(join(this.opts.dir, entry));
      report.removed.push(entry);
    }
    return report;
  }

  private async list(kind: string): Promise<Entry[]> {
    const names = await readdir(join(this.opts.dir, kind)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [] as string[];
      throw err;
    });
    return names.map((n) => `${kind}/${n}` as Entry);
  }

  /**
   * Staging folders past any build's life: named `<ms since epoch>-<random>` by BuildDir.stage, or `gc-<ms>-<random>`
   * by a sweep (of this or another controller) that stopped midway. The name's time is when it was made (a folder's
   * mtime is not: a build writes deeper down).
   */
  private async staleStaging(now: number, room: number): Promise<{ entries: Entry[]; more: boolean }> {
    const old: Entry[] = [];
    for (const entry of await this.list(BUILD_LAYOUT.staging)) {
      const made = Number(/^(?:gc-)?(\d{13})-/.exec(entry.slice(BUILD_LAYOUT.staging.length + 1))?.[1]);
      if (Number.isFinite(made) && now - made > Math.max(this.opts.stagingMaxAgeMs, this.opts.graceMs)) old.push(entry);
    }
    return { entries: old.slice(0, Math.max(0, room)), more: old.length > Math.max(0, room) };
  }

  private async moveAside(entries: Entry[]): Promise<Array<{ entry: Entry; path: string }>> {
    const moved: Array<{ entry: Entry; path: string }> = [];
    for (const entry of entries) {
      const path = join(this.opts.dir, BUILD_LAYOUT.staging, `gc-${Date.now()}-${randomBytes(6).toString("hex")}`);
      try {
        await this.dir.ensureStaging();
        await rename(join(this.opts.dir, entry), path);
        moved.push({ entry, path });
      } catch (err) {
        // Another controller's sweep took it first.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        this.firstSeen.delete(entry);
      }
    }
    return moved;
  }
}

function referenced(refs: BuildReferences, entry: Entry): boolean {
  const [kind, id] = entry.split("/") as [string, string];
  return kind === BUILD_LAYOUT.layers ? refs.layers.has(id) : refs.bundles.has(id);
}
