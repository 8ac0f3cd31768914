// The warm-pool policy: pure decisions over a snapshot of the containers, no Docker, no timers.
// pool.ts applies them; test/unit/pool-policy.test.ts checks them.
import type { Isolation, Runtime } from "./docker-driver.js";

export type ViewState = "starting" | "ready" | "removing";

/** What the policy needs to know about one live container. */
export interface ContainerView {
  ref: string;
  /** `versionKeyOf` of the function version it is bound to; undefined for a stem cell. */
  key: string | undefined;
  runtime: Runtime;
  isolation: Isolation;
  memoryMb: number;
  cpus: number | undefined;
  state: ViewState;
  /** Its code is loaded (init succeeded): a job given it now is warm. */
  initialised: boolean;
  leases: number;
  capacity: number;
  lastUsedAt: number;
}

/** What a job needs: one function version's runtime, isolation and size. */
export interface Need {
  key: string;
  runtime: Runtime;
  isolation: Isolation;
  memoryMb: number;
  cpus: number | undefined;
  /** Its containers need the version's build mounted at creation: a stem cell (created without) cannot serve it. */
  mounted?: boolean;
}

/**
 * What the pool has observed of a version's load: how many of its jobs already wait, how long one of its
 * invocations holds a container (moving average; undefined until one has finished), and what a new
 * container of its isolation costs to start.
 */
export interface Load {
  waiting: number;
  expectedRunMs: number | undefined;
  coldStartMs: number;
}

export interface Budget {
  memoryMb: number;
  /** Whether a running container of this isolation can be resized (runc yes; runsc has no update). */
  resizable(isolation: Isolation): boolean;
}

export type Decision =
  /** A ready container of this version with a free slot. */
  | { kind: "warm"; ref: string }
  /** A container of this version still starting or loading its code, with a free slot: wait for it. */
  | { kind: "join"; ref: string }
  /** Its containers are all busy but will free up sooner than a new one could start: wait for one. */
  | { kind: "queue" }
  /**
   * A pre-started runtime container: load the code into it (after resizing it, if `resize`). A stem cell
   * still starting is taken too: it began before any new container could, so it is ready sooner.
   */
  | { kind: "stem"; ref: string; resize: boolean }
  /** Create a new container for this version, after removing `evict` to make room. */
  | { kind: "cold"; evict: string[] }
  /** Nothing can be had now; ask again when a container is released or removed. */
  | { kind: "wait" }
  /** This agent can never run it (the function is larger than the whole budget). */
  | { kind: "impossible"; reason: string };

/** One version of one incarnation of a function: a container bound to it serves no other. */
export const versionKeyOf = (fn: { name: string; incarnation: string; version: number }): string =>
  `${fn.name}@${fn.incarnation}@${fn.version}`;

export const memoryInUse = (views: readonly ContainerView[]): number => views.reduce((sum, v) => sum + v.memoryMb, 0);

const hasRoom = (v: ContainerView): boolean => v.leases < v.capacity;
const isStem = (v: ContainerView): boolean => v.key === undefined;

/** The version has a container with its code loaded (all busy, once no warm one with room was found). */
const servesWarm = (need: Need, views: readonly ContainerView[]): boolean =>
  views.some((v) => v.key === need.key && v.state === "ready" && v.initialised);

/** Most recently used first: the others are left idle so they can expire. */
const byRecentUse = (a: ContainerView, b: ContainerView): number => b.lastUsedAt - a.lastUsedAt;

function stemFits(stem: ContainerView, need: Need, budget: Budget): { fits: boolean; resize: boolean } {
  const sameSize = stem.memoryMb === need.memoryMb && stem.cpus === need.cpus;
  if (sameSize) return { fits: true, resize: false };
  return { fits: budget.resizable(need.isolation), resize: true };
}

function pickStem(need: Need, views: readonly ContainerView[], budget: Budget, used: number): Decision | undefined {
  if (need.mounted) return undefined;
  const stems = views.filter(
    (v) => isStem(v) && v.state !== "removing" && v.leases === 0 && v.runtime === need.runtime && v.isolation === need.isolation,
  );
  let best: { ref: string; resize: boolean; ready: boolean } | undefined;
  for (const stem of stems) {
    const { fits, resize } = stemFits(stem, need, budget);
    if (!fits || used - stem.memoryMb + need.memoryMb > budget.memoryMb) continue;
    const ready = stem.state === "ready";
    // Ready beats starting; among equals, no resize beats a resize.
    const better = !best || (ready && !best.ready) || (ready === best.ready && best.resize && !resize);
    if (better) best = { ref: stem.ref, resize, ready };
  }
  return best && { kind: "stem", ref: best.ref, resize: best.resize };
}

/** Idle containers that may be removed to make room: other versions' first (least recently used first), stem cells last. */
function evictionOrder(need: Need, views: readonly ContainerView[]): ContainerView[] {
  const idle = views.filter((v) => v.state === "ready" && v.leases === 0 && v.key !== need.key);
  const bound = idle.filter((v) => !isStem(v)).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  const stems = idle.filter(isStem).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  return [...bound, ...stems];
}

/**
 * Expected wait for one of the version's busy containers, were this job to queue behind the `waiting` ones.
 * Undefined when nothing is known (no busy container, or no invocation has finished yet).
 */
export function expectedQueueMs(need: Need, views: readonly ContainerView[], load: Load): number | undefined {
  if (load.expectedRunMs === undefined) return undefined;
  const busy = views.filter((v) => v.key === need.key && v.state === "ready" && v.initialised && !hasRoom(v));
  const slots = busy.reduce((sum, v) => sum + v.capacity, 0);
  if (slots === 0) return undefined;
  return ((load.waiting + 1) / slots) * load.expectedRunMs;
}

/**
 * A parked job waits at most this many times its expected wait (and at least a cold start's time); past it
 * the estimate was wrong (one long call holds the container) and the job takes a stem cell or a new
 * container instead of waiting behind it (REVIEW C5).
 */
export const PARKED_WAIT_FACTOR = 4;

/**
 * Where a job of one function version runs: a warm container of that version (most recently used first) →
 * one of its containers still starting → queue behind its busy containers when they will free up sooner
 * than a stem cell or a new container would be ready (OpenWhisk's lesson: container operations cost one to
 * two orders of magnitude more than a typical invocation) → a stem cell of its runtime and isolation → a
 * new container if the memory budget allows → a new one after evicting idle containers of other versions →
 * wait.
 */
export function decide(need: Need, views: readonly ContainerView[], budget: Budget, load?: Load): Decision {
  if (need.memoryMb > budget.memoryMb) {
    return { kind: "impossible", reason: `needs ${need.memoryMb} MB, the agent's whole budget is ${budget.memoryMb} MB` };
  }
  const mine = views.filter((v) => v.key === need.key && v.state !== "removing" && hasRoom(v));
  const warm = mine.filter((v) => v.state === "ready" && v.initialised).sort(byRecentUse)[0];
  if (warm) return { kind: "warm", ref: warm.ref };
  const starting = mine.find((v) => !v.initialised);
  if (starting) return { kind: "join", ref: starting.ref };
  const used = memoryInUse(views);
  const stem = pickStem(need, views, budget, used);
  const queueMs = load && expectedQueueMs(need, views, load);
  // A stem cell is quick to take but is replaced by a container start in the background, so it costs the
  // machine what a cold start does: the same threshold applies to both.
  if (queueMs !== undefined && queueMs < load!.coldStartMs / 2) return { kind: "queue" };
  // Grow one container at a time while warm ones serve: a burst must not start a container per job. That holds for
  // a job that waited past its patience too (no estimate then): when the host stalls, every parked job gives up at
  // once, and each starting a container of its own was 31 Node.js cold starts in 2 s on two cores.
  if (servesWarm(need, views) && views.some((v) => v.key === need.key && v.state !== "removing" && !v.initialised)) return { kind: "queue" };
  if (stem) return stem;
  if (used + need.memoryMb <= budget.memoryMb) return { kind: "cold", evict: [] };
  const evict: string[] = [];
  let freed = 0;
  for (const victim of evictionOrder(need, views)) {
    evict.push(victim.ref);
    freed += victim.memoryMb;
    if (used - freed + need.memoryMb <= budget.memoryMb) return { kind: "cold", evict };
  }
  return { kind: "wait" };
}

/**
 * Idle containers past their keep-alive, except the `minWarm` most recently used of each version that asks
 * for them. Stem cells never expire: they are the pool's standing reserve.
 */
export function expired(
  views: readonly ContainerView[],
  now: number,
  keepAliveMs: number,
  minWarm: ReadonlyMap<string, number>,
): string[] {
  const keptPerKey = new Map<string, number>();
  const out: string[] = [];
  for (const v of [...views].sort(byRecentUse)) {
    if (isStem(v) || v.state === "removing") continue;
    const keep = minWarm.get(v.key!) ?? 0;
    const kept = keptPerKey.get(v.key!) ?? 0;
    if (kept < keep) {
      keptPerKey.set(v.key!, kept + 1);
      continue;
    }
    if (v.leases === 0 && v.state === "ready" && now - v.lastUsedAt >= keepAliveMs) out.push(v.ref);
  }
  return out;
}

/** How many containers to pre-start for a version that asks for `minWarm`, within the budget (never by evicting). */
export function minWarmDeficit(need: Need, minWarm: number, views: readonly ContainerView[], budget: Budget): number {
  const have = views.filter((v) => v.key === need.key && v.state !== "removing").length;
  const room = Math.floor((budget.memoryMb - memoryInUse(views)) / need.memoryMb);
  return Math.max(0, Math.min(minWarm - have, room));
}

export interface StemTarget {
  runtime: Runtime;
  isolation: Isolation;
  count: number;
  memoryMb: number;
}

/** Stem cells to start so each runtime × isolation has its target, as far as the budget allows. */
export function stemDeficit(targets: readonly StemTarget[], views: readonly ContainerView[], budget: Budget): StemTarget[] {
  let free = budget.memoryMb - memoryInUse(views);
  const out: StemTarget[] = [];
  for (const t of targets) {
    const have = views.filter((v) => isStem(v) && v.state !== "removing" && v.runtime === t.runtime && v.isolation === t.isolation).length;
    const fit = Math.min(t.count - have, Math.floor(free / t.memoryMb));
    if (fit > 0) {
      out.push({ ...t, count: fit });
      free -= fit * t.memoryMb;
    }
  }
  return out;
}
