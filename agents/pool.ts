// The container pool: applies pool-policy.ts decisions with the Docker driver. Warm containers are bound to
// one function version of one incarnation (a function deleted and created again under its name never gets
// the old one's containers); stem cells (pre-started runtime containers) take a function's code on first use;
// idle containers expire after the keep-alive; minWarm versions are kept pre-started.
import { imageRuntimeOf } from "../shared/runtimes.js";
import { isBuilt, versionMounts, type VersionMount } from "../shared/bundle.js";
import type { Logger } from "../shared/logger.js";
import type { FunctionDefinition } from "../shared/schemas/function.js";
import type { PoolStatus } from "../shared/schemas/agent.js";
import { Container, type InitOutcome } from "./container.js";
import type { DockerDriver, Isolation } from "./docker-driver.js";
import {
  PARKED_WAIT_FACTOR,
  decide,
  expectedQueueMs,
  expired,
  minWarmDeficit,
  stemDeficit,
  versionKeyOf,
  type Budget,
  type ContainerView,
  type Load,
  type Need,
  type StemTarget,
} from "./pool-policy.js";

export interface PoolOptions {
  memoryBudgetMb: number;
  keepAliveMs: number;
  stemTargets: StemTarget[];
  startTimeoutMs: number;
  /** CPUs a function gets when it names none (WEFT_DEFAULT_CPUS); stem cells start with it. */
  defaultCpus: number;
  /** How often expiry, minWarm and stem cells are checked. */
  tickMs?: number;
  /** Where bundles' builds are (WEFT_BUILD_DIR): a bundle's container mounts its files and layer from here. */
  buildDir?: string;
}

/** A job's hold on a container; release it exactly once. */
export interface Lease {
  container: Container;
  coldStart: boolean;
  release(): void;
}

export type Acquired =
  | { ok: true; lease: Lease }
  | { ok: false; init: Extract<InitOutcome, { ok: false }>; coldStart: true }
  /** The function was deleted (or deleted and created again) before a container was ready for the job. */
  | { ok: false; deleted: true };

const DELETED: Acquired = { ok: false, deleted: true };

/** The pool could not provide a container for a reason that is not the function's fault (retry elsewhere or later). */
export class PlatformError extends Error {
  override name = "PlatformError";
}

const RESIZABLE: Record<Isolation, boolean> = { runc: true, gvisor: false };
/** Until measured here, what a new container costs to start and load code (ANCHORS: ~200 ms runc, more for runsc). */
const INITIAL_COLD_START_MS: Record<Isolation, number> = { runc: 250, gvisor: 800 };
/** Weight of the newest sample in the moving average of cold-start time. */
const EWMA_WEIGHT = 0.2;
/** Run times remembered per version; the queue estimate uses their median (see RunTimes). */
const RUN_WINDOW = 32;

/**
 * How long one invocation of a version holds its container. The median recent hold is taken, not the mean:
 * under load every hold also includes the agent's event-loop delay, which a new container would not remove,
 * and a mean inflated by it made the pool start containers that only added load (measured: 16 starts in 4 s
 * and a third less throughput at 64 clients on 2 cores).
 */
export class RunTimes {
  private readonly samples: number[] = [];
  /** The same samples in order, kept sorted as they come and go (sorting a copy per acquire was 1.4 % of the agent's CPU). */
  private readonly ordered: number[] = [];
  private next = 0;

  add(ms: number): void {
    if (this.samples.length < RUN_WINDOW) this.samples.push(ms);
    else {
      const gone = this.ordered.indexOf(this.samples[this.next]!);
      if (gone >= 0) this.ordered.splice(gone, 1);
      this.samples[this.next] = ms;
    }
    this.ordered.splice(insertionPoint(this.ordered, ms), 0, ms);
    this.next = (this.next + 1) % RUN_WINDOW;
  }

  /** The median of recent holds: robust to the odd slow call and to event-loop delay alike (REVIEW C5). */
  get median(): number {
    return this.ordered[Math.floor(this.ordered.length / 2)] ?? 0;
  }
}

/** Where `x` goes in the ascending `sorted` (after equal values). */
function insertionPoint(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const ewma = (prev: number | undefined, sample: number): number => (prev === undefined ? sample : prev + EWMA_WEIGHT * (sample - prev));
const STEM_RETRY_MS = [1000, 5000, 30_000];
/**
 * A claimed stem cell's replacement starts once the first call in it has ended, or after this long: started at
 * once, the new container's start (a gVisor sandbox booting node takes ~0.5 s of CPU) competes with that first
 * call for the host's cores. Measured on 2 cores: a nodejs/gVisor first call 58.7 ms with the refill beside it.
 */
export const STEM_REFILL_HOLD_MS = 250;

export const needOf = (def: FunctionDefinition, defaultCpus: number): Need => ({
  key: versionKeyOf(def),
  runtime: imageRuntimeOf(def.runtime),
  isolation: def.isolation,
  memoryMb: def.limits.memoryMb,
  cpus: def.limits.cpus ?? defaultCpus,
  mounted: def.build !== undefined,
});

export class Pool {
  private readonly containers = new Map<string, Container>();
  private readonly budget: Budget;
  private wakers: Array<() => void> = [];
  /** The live incarnation of every function the agent knows: a job of any other one must not start. */
  private readonly live = new Map<string, string>();
  /** Latest definitions of functions that ask for minWarm containers. */
  private readonly minWarm = new Map<string, FunctionDefinition>();
  /** Busy containers of deleted functions: removed as soon as their last invocation ends. */
  private readonly retireWhenIdle = new Set<string>();
  /** Versions whose code failed to load: minWarm does not retry them in a loop. */
  private readonly initFailed = new Set<string>();
  private readonly stemFailures = new Map<string, { count: number; retryAt: number }>();
  /** First calls in claimed stem cells still running: stem cells are not refilled meanwhile (STEM_REFILL_HOLD_MS). */
  private stemRefillHolds = 0;
  /** Per version: jobs queued behind its busy containers, and how long one invocation holds a container. */
  private readonly queued = new Map<string, Array<() => void>>();
  private readonly runTimes = new Map<string, RunTimes>();
  private readonly coldStartMs: Record<Isolation, number> = { ...INITIAL_COLD_START_MS };
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private draining = false;

  constructor(
    private readonly driver: DockerDriver,
    private readonly opts: PoolOptions,
    private readonly log: Logger,
  ) {
    this.budget = { memoryMb: opts.memoryBudgetMb, resizable: (i) => RESIZABLE[i] };
  }

  /** Starts the stem cells (and waits for them, so a ready agent serves its first call fast) and the reaper. */
  async start(): Promise<void> {
    const started = this.replenishStems();
    await Promise.allSettled(started.map((c) => c.started));
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? Math.min(5000, Math.max(250, this.opts.keepAliveMs / 10)));
    this.timer.unref();
  }

  stats(): { containers: number; stemCells: number; memoryMb: { used: number; total: number }; pools: PoolStatus[] } {
    let stemCells = 0;
    let usedMb = 0;
    const pools = new Map<string, PoolStatus>();
    for (const c of this.containers.values()) {
      if (c.state === "dead") continue;
      usedMb += c.memoryMb;
      const key = `${c.runtime}/${c.isolation}`;
      const pool = pools.get(key) ?? { runtime: c.runtime, isolation: c.isolation, idle: 0, busy: 0, starting: 0, stemCells: 0 };
      pools.set(key, pool);
      // Only ready stem cells count: one still starting would make a first call wait for its start.
      if (c.state === "starting") pool.starting++;
      else if (c.state !== "ready") continue;
      else if (c.isStem) pool.stemCells++;
      else if (c.leases > 0) pool.busy++;
      else pool.idle++;
    }
    for (const p of pools.values()) stemCells += p.stemCells;
    return {
      containers: this.containers.size,
      stemCells,
      memoryMb: { used: usedMb, total: this.opts.memoryBudgetMb },
      pools: [...pools.values()].sort((a, b) => (a.runtime + a.isolation).localeCompare(b.runtime + b.isolation)),
    };
  }

  /**
   * A container running `def`'s code; an init failure is data, a platform failure throws PlatformError.
   * Waiting (behind busy containers, or for memory) ends at `deadline` (epoch ms): the job then goes back to
   * JetStream, where another agent may run it, rather than wait here for ever (REVIEW C1). Whether the
   * function is still live is checked again after every wait: a job parked here when its function is
   * deleted ends as deleted and never starts a container.
   */
  async acquire(def: FunctionDefinition, deadline = Date.now() + 60_000): Promise<Acquired> {
    const need = needOf(def, this.opts.defaultCpus);
    let parkedTooLong = false;
    for (;;) {
      if (this.stopping) throw new PlatformError("the agent is shutting down");
      if (this.draining) throw new PlatformError("the agent is draining; another agent will take the job");
      if (!this.isLive(def)) return DELETED;
      // Gateways hold a version's calls until its build is ready; a job that got here anyway is handed back.
      if (!isBuilt(def)) throw new PlatformError(`version ${def.version} of ${def.name} is not built yet (build ${def.build?.status})`);
      if (Date.now() >= deadline) throw new PlatformError("no container became free in time on this agent");
      // The common case, decided without a snapshot of every container: what decide() would answer "warm" with.
      const warm = this.warmFor(def);
      if (warm) return { ok: true, lease: this.lease(warm, false) };
      const load = this.loadOf(need, def.isolation, parkedTooLong);
      const decision = decide(need, this.views(), this.budget, load);
      switch (decision.kind) {
        case "warm":
          return { ok: true, lease: this.lease(this.get(decision.ref), false) };
        case "join":
          return this.stillLive(def, await this.initialised(this.get(decision.ref)));
        case "stem": {
          const acquired = await this.fromStem(this.get(decision.ref), def, decision.resize);
          if (acquired) return this.stillLive(def, acquired);
          continue;
        }
        case "cold":
          for (const ref of decision.evict) void this.get(ref).retire();
          return this.stillLive(def, await this.cold(def));
        case "queue": {
          const expected = expectedQueueMs(need, this.views(), load) ?? load.coldStartMs;
          const patience = Math.max(load.coldStartMs, PARKED_WAIT_FACTOR * expected);
          parkedTooLong = !(await this.queueFor(need.key, Math.min(deadline, Date.now() + patience)));
          continue;
        }
        case "wait":
          await this.until(deadline, new Promise<void>((resolve) => this.wakers.push(resolve)));
          continue;
        case "impossible":
          throw new PlatformError(decision.reason);
      }
    }
  }

  /** Resolves when `wakeUp` does or `deadline` passes, whichever is first (the loop re-decides either way). */
  private until(deadline: number, wakeUp: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
    return Promise.race([wakeUp, timeout]).finally(() => clearTimeout(timer));
  }

  /** Draining: jobs not yet holding a container go back at once; running ones finish. */
  drain(): void {
    this.draining = true;
    this.wake();
    for (const q of [...this.queued.values()]) for (const resolve of [...q]) resolve();
    this.queued.clear();
  }

  private loadOf(need: Need, isolation: Isolation, parkedTooLong = false): Load {
    return {
      waiting: this.queued.get(need.key)?.length ?? 0,
      // A job that already waited past its patience does not queue again: nothing is known that would help.
      expectedRunMs: parkedTooLong ? undefined : this.runTimes.get(need.key)?.median,
      coldStartMs: this.coldStartMs[isolation],
    };
  }

  private isLive(def: FunctionDefinition): boolean {
    return this.live.get(def.name) === def.incarnation;
  }

  /** After a container start or code load: a function deleted meanwhile gives its container back unused. */
  private stillLive(def: FunctionDefinition, acquired: Acquired): Acquired {
    if (!acquired.ok || this.isLive(def)) return acquired;
    acquired.lease.release();
    return DELETED;
  }

  private runTimesOf(key: string): RunTimes {
    let r = this.runTimes.get(key);
    if (!r) this.runTimes.set(key, (r = new RunTimes()));
    return r;
  }

  /**
   * Waits until one of the version's containers is released, wake() asks every waiting job to re-decide, or
   * the deadline passes (the job then leaves the queue, so a later release is not spent on it).
   */
  private queueFor(key: string, until: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const q = this.queued.get(key) ?? [];
      const timer = setTimeout(() => {
        this.dequeue(key, entry);
        resolve(false);
      }, Math.max(0, until - Date.now()));
      const entry = () => {
        clearTimeout(timer);
        resolve(true);
      };
      q.push(entry);
      this.queued.set(key, q);
    });
  }

  private dequeue(key: string, resolve: () => void): void {
    const q = this.queued.get(key);
    const i = q?.indexOf(resolve) ?? -1;
    if (q && i >= 0) q.splice(i, 1);
    if (q?.length === 0) this.queued.delete(key);
    resolve();
  }

  /**
   * The function's latest definition changed (or appeared): keep its minWarm containers. A new incarnation means
   * the previous one was deleted, even if that deletion was never seen here: its containers go.
   */
  setLatest(def: FunctionDefinition): void {
    const previous = this.live.get(def.name);
    this.live.set(def.name, def.incarnation);
    if (previous !== undefined && previous !== def.incarnation) this.endIncarnation(def.name);
    if (def.minWarm > 0) this.minWarm.set(def.name, def);
    else this.minWarm.delete(def.name);
    this.ensureMinWarm();
  }

  /** The function was deleted: its idle containers go now, busy ones when their invocations finish. */
  deleteFunction(name: string): void {
    this.live.delete(name);
    this.minWarm.delete(name);
    this.endIncarnation(name);
  }

  /**
   * Everything of `name` but its live incarnation (all of it once deleted) goes: idle containers now, busy ones
   * when their invocations finish. Its parked jobs are woken, so they end now instead of waiting for a container.
   */
  private endIncarnation(name: string): void {
    const live = this.live.get(name);
    for (const c of this.containers.values()) {
      if (c.binding?.name !== name || c.binding.incarnation === live) continue;
      if (c.leases === 0) void c.retire();
      else this.retireWhenIdle.add(c.ref);
    }
    const keep = live === undefined ? undefined : `${name}@${live}@`;
    const ended = (key: string) => key.startsWith(`${name}@`) && !(keep && key.startsWith(keep));
    for (const key of this.runTimes.keys()) if (ended(key)) this.runTimes.delete(key);
    for (const [key, parked] of this.queued) {
      if (!ended(key)) continue;
      this.queued.delete(key);
      for (const resolve of parked) resolve();
    }
    // Jobs waiting for room may be of this function too; re-deciding is cheap for the others.
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  /** Removes every container (in-flight runs end as killed, a platform outcome). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.wake();
    await Promise.allSettled([...this.containers.values()].map((c) => c.retire("shutdown")));
  }

  private get(ref: string): Container {
    const c = this.containers.get(ref);
    if (!c) throw new Error(`pool: no container ${ref}`);
    return c;
  }

  /**
   * decide()'s first answer, found in place: a ready container of this version with its code loaded and a free
   * slot, the most recently used first (the first of equals, as decide()'s stable sort). With a hundred warm
   * functions on an agent this is most calls, and it builds no view of the other containers.
   */
  private warmFor(def: FunctionDefinition): Container | undefined {
    let best: Container | undefined;
    for (const c of this.containers.values()) {
      const b = c.binding;
      if (b === undefined || b.name !== def.name || b.incarnation !== def.incarnation || b.version !== def.version) continue;
      if (c.state !== "ready" || !c.initialised || c.leases >= c.capacity) continue;
      if (!best || c.lastUsedAt > best.lastUsedAt) best = c;
    }
    return best;
  }

  private views(): ContainerView[] {
    const out: ContainerView[] = [];
    for (const c of this.containers.values()) {
      if (c.state === "dead") continue;
      out.push({
        ref: c.ref,
        key: c.binding && versionKeyOf(c.binding),
        runtime: c.runtime,
        isolation: c.isolation,
        memoryMb: c.memoryMb,
        cpus: c.cpus,
        state: c.state,
        initialised: c.initialised,
        leases: c.leases,
        capacity: c.capacity,
        lastUsedAt: c.lastUsedAt,
      });
    }
    return out;
  }

  private lease(c: Container, coldStart: boolean): Lease {
    c.leases++;
    let released = false;
    const leasedAt = performance.now();
    return {
      container: c,
      coldStart,
      release: () => {
        if (released) return;
        released = true;
        c.leases--;
        c.lastUsedAt = Date.now();
        const key = c.binding && versionKeyOf(c.binding);
        if (key && !coldStart) this.runTimesOf(key).add(performance.now() - leasedAt);
        if (c.leases === 0 && this.retireWhenIdle.delete(c.ref)) void c.retire();
        // The first job queued for this version takes the freed slot; the rest keep their place.
        const next = key ? this.queued.get(key)?.[0] : undefined;
        if (next && key) this.dequeue(key, next);
        else this.wake();
      },
    };
  }

  /** Holds `c` (already bound) through its init; the caller's job is a cold start. */
  private async initialised(c: Container): Promise<Acquired> {
    const lease = this.lease(c, true);
    let outcome: InitOutcome;
    try {
      outcome = await c.init();
    } catch (err) {
      lease.release();
      throw new PlatformError(`container did not start: ${(err as Error).message}`);
    }
    if (outcome.ok) return { ok: true, lease };
    lease.release();
    void c.retire();
    return { ok: false, init: outcome, coldStart: true };
  }

  private async fromStem(c: Container, def: FunctionDefinition, resize: boolean): Promise<Acquired | undefined> {
    c.claim(def, { memoryMb: def.limits.memoryMb, cpus: def.limits.cpus ?? this.opts.defaultCpus });
    c.leases++;
    const refill = this.holdStemRefill();
    try {
      await c.started;
      if (resize) await this.driver.update(c.id, { memoryMb: def.limits.memoryMb, cpus: def.limits.cpus ?? this.opts.defaultCpus });
    } catch (err) {
      this.log.warn({ err, fn: def.name, containerId: c.id }, "a stem cell did not start or resize; trying another way");
      c.leases--;
      void c.retire();
      refill();
      return undefined;
    }
    c.leases--;
    const acquired = await this.initialised(c);
    if (!acquired.ok) {
      refill();
      return acquired;
    }
    const { release } = acquired.lease;
    return { ok: true, lease: { ...acquired.lease, release: () => (release(), refill()) } };
  }

  /**
   * Holds stem-cell refills until the returned function is called (the claimed stem cell's first call ended) or
   * STEM_REFILL_HOLD_MS passes, whichever is first; then refills.
   */
  private holdStemRefill(): () => void {
    this.stemRefillHolds++;
    let held = true;
    const end = (): void => {
      if (!held) return;
      held = false;
      clearTimeout(timer);
      this.stemRefillHolds--;
      this.replenishStems();
    };
    const timer = setTimeout(end, STEM_REFILL_HOLD_MS);
    timer.unref();
    return end;
  }

  private async cold(def: FunctionDefinition): Promise<Acquired> {
    const c = this.add(
      new Container(
        this.driver,
        { runtime: imageRuntimeOf(def.runtime), isolation: def.isolation, memoryMb: def.limits.memoryMb, cpus: def.limits.cpus ?? this.opts.defaultCpus, bindTo: def, mounts: this.mountsOf(def), startTimeoutMs: this.opts.startTimeoutMs },
        this.log,
      ),
    );
    const t0 = performance.now();
    const acquired = await this.initialised(c);
    if (acquired.ok) this.coldStartMs[def.isolation] = ewma(this.coldStartMs[def.isolation], performance.now() - t0);
    return acquired;
  }

  private add(c: Container): Container {
    this.containers.set(c.ref, c);
    // A container that becomes ready may be what a waiting job needs (a stem cell, say).
    c.started.then(() => this.wake(), () => {});
    c.onDeath((dead) => {
      this.containers.delete(dead.ref);
      this.retireWhenIdle.delete(dead.ref);
      if (dead.isStem) this.replenishStems();
      this.wake();
    });
    return c;
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
    // Jobs queued behind busy containers re-decide too: a container that started or went away (a timeout,
    // say) may change their best option.
    const queued = [...this.queued.values()];
    this.queued.clear();
    for (const q of queued) for (const resolve of q) resolve();
  }

  /** Starts stem cells up to their targets; returns those it started. */
  private replenishStems(): Container[] {
    if (this.stopping || this.stemRefillHolds > 0) return [];
    const now = Date.now();
    const started: Container[] = [];
    for (const t of stemDeficit(this.opts.stemTargets, this.views(), this.budget)) {
      const kind = `${t.runtime}/${t.isolation}`;
      if ((this.stemFailures.get(kind)?.retryAt ?? 0) > now) continue;
      for (let i = 0; i < t.count; i++) started.push(this.startStem(t, kind));
    }
    return started;
  }

  private startStem(t: StemTarget, kind: string): Container {
    const c = this.add(
      new Container(this.driver, { runtime: t.runtime, isolation: t.isolation, memoryMb: t.memoryMb, cpus: this.opts.defaultCpus, startTimeoutMs: this.opts.startTimeoutMs }, this.log),
    );
    c.started.then(
      () => this.stemFailures.delete(kind),
      (err: Error) => {
        if (this.stopping) return;
        const count = (this.stemFailures.get(kind)?.count ?? 0) + 1;
        const delay = STEM_RETRY_MS[Math.min(count, STEM_RETRY_MS.length) - 1]!;
        this.stemFailures.set(kind, { count, retryAt: Date.now() + delay });
        this.log.error({ err, runtime: t.runtime, isolation: t.isolation, retryInMs: delay }, "stem cell did not start");
      },
    );
    return c;
  }

  private mountsOf(def: FunctionDefinition): VersionMount[] {
    if (def.build && !this.opts.buildDir) throw new PlatformError("this agent has no build directory (WEFT_BUILD_DIR) to mount a bundle from");
    return versionMounts(def, this.opts.buildDir ?? "");
  }

  private ensureMinWarm(): void {
    if (this.stopping) return;
    for (const def of this.minWarm.values()) {
      if (!isBuilt(def)) continue;
      const need = needOf(def, this.opts.defaultCpus);
      if (this.initFailed.has(need.key)) continue;
      const n = minWarmDeficit(need, def.minWarm, this.views(), this.budget);
      for (let i = 0; i < n; i++) this.prewarm(def, need.key);
    }
  }

  private prewarm(def: FunctionDefinition, key: string): void {
    const c = this.add(
      new Container(
        this.driver,
        { runtime: imageRuntimeOf(def.runtime), isolation: def.isolation, memoryMb: def.limits.memoryMb, cpus: def.limits.cpus ?? this.opts.defaultCpus, bindTo: def, mounts: this.mountsOf(def), startTimeoutMs: this.opts.startTimeoutMs },
        this.log,
      ),
    );
    c.init().then(
      (outcome) => {
        if (outcome.ok) return;
        this.initFailed.add(key);
        void c.retire();
      },
      (err: Error) => this.log.warn({ err, fn: def.name, version: def.version }, "pre-warming a container failed"),
    );
  }

  private tick(): void {
    const now = Date.now();
    const minWarmByKey = new Map([...this.minWarm.values()].map((d) => [versionKeyOf(d), d.minWarm]));
    for (const ref of expired(this.views(), now, this.opts.keepAliveMs, minWarmByKey)) {
      this.log.debug({ container: ref }, "idle container expired");
      void this.get(ref).retire();
    }
    this.replenishStems();
    this.ensureMinWarm();
  }
}
