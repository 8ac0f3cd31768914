// The ad-hoc execution pool: pre-started sandboxes per runtime × isolation (exec-pool-policy.ts decides how many),
// each handed out once and never returned: a container that ran ad-hoc code is removed afterwards, and a replacement
// starts in the background so the next request costs a hand-off, not a container start.
import type { Logger } from "../shared/logger.js";
import { Container } from "./container.js";
import type { DockerDriver } from "./docker-driver.js";
import { backoffMs, execDeficit, kindKey, takeFor, type ExecKind } from "./exec-pool-policy.js";

export interface ExecPoolOptions {
  kinds: ExecKind[];
  /** Ready sandboxes kept per kind (WEFT_EXEC_POOL_SIZE). */
  size: number;
  memoryMb: number;
  cpus: number;
  startTimeoutMs: number;
}

/** A sandbox given to one request; `coldStart` when none was pre-started and it was started for the request. */
export interface ExecSandbox {
  container: Container;
  coldStart: boolean;
  /** Removes the sandbox (it never runs other code) and starts the pool's replacement; call once its run is answered. */
  release(): void;
}

/**
 * A taken sandbox's replacement starts when the run is answered, or after this long if it is still running: on a
 * machine with few cores a container start (hundreds of ms of CPU in dockerd, containerd and runc or runsc) beside
 * a short program is what made the program slow, while a long program must not hold the pool back.
 */
export const REFILL_AFTER_MS = 250;

interface KindState {
  kind: ExecKind;
  ready: Container[];
  starting: number;
  failures: number;
  backoffUntil: number;
}

export class ExecPool {
  private readonly kinds = new Map<string, KindState>();
  private stopping = false;
  /** Every container this pool started and that is not gone yet (handed out ones included): stop() removes them. */
  private readonly live = new Set<Container>();

  constructor(
    private readonly driver: DockerDriver,
    private readonly opts: ExecPoolOptions,
    private readonly log: Logger,
  ) {
    for (const kind of opts.kinds) this.kinds.set(kindKey(kind), { kind, ready: [], starting: 0, failures: 0, backoffUntil: 0 });
  }

  /** Fills every kind's pool and waits for it, so a ready agent serves its first request with a hand-off. */
  async start(): Promise<void> {
    const started = [...this.kinds.values()].flatMap((s) => this.refill(s));
    await Promise.allSettled(started.map((c) => c.started));
  }

  serves(kind: ExecKind): boolean {
    return this.kinds.has(kindKey(kind));
  }

  stats(): Record<string, { ready: number; starting: number }> {
    const out: Record<string, { ready: number; starting: number }> = {};
    for (const [key, s] of this.kinds) out[key] = { ready: s.ready.length, starting: s.starting };
    return out;
  }

  /** A sandbox for one request; throws when none could be started (a platform failure). */
  async take(kind: ExecKind, memoryMb: number | undefined): Promise<ExecSandbox> {
    if (this.stopping) throw new Error("the agent is shutting down");
    const state = this.kinds.get(kindKey(kind));
    if (!state) throw new Error(`this agent keeps no ${kindKey(kind)} sandboxes`);
    const how = takeFor(kind.isolation, this.opts.memoryMb, memoryMb);
    if (how.kind === "fresh") return this.fresh(kind, how.memoryMb);
    const pooled = state.ready.shift();
    const release = this.releaser(state, pooled);
    if (!pooled) {
      const started = await this.fresh(kind, memoryMb ?? this.opts.memoryMb);
      return { ...started, release: () => { started.release(); release(); } };
    }
    if (how.kind === "resize") {
      try {
        await this.driver.update(pooled.id, { memoryMb: how.memoryMb, cpus: this.opts.cpus });
      } catch (err) {
        release();
        throw err;
      }
      pooled.memoryMb = how.memoryMb;
    }
    return { container: pooled, coldStart: false, release };
  }

  /** Retires the taken container and refills its kind, once: when the run is answered, or REFILL_AFTER_MS after the take. */
  private releaser(state: KindState, taken: Container | undefined): () => void {
    let refilled = false;
    const refill = () => {
      if (refilled) return;
      refilled = true;
      clearTimeout(timer);
      this.refill(state);
    };
    const timer = setTimeout(refill, REFILL_AFTER_MS);
    timer.unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      void taken?.retire();
      refill();
    };
  }

  /** Removes every container, pooled or handed out (a program running in one ends as killed). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.live].map((c) => c.retire("shutdown")));
  }

  private async fresh(kind: ExecKind, memoryMb: number): Promise<ExecSandbox> {
    const c = this.create(kind, memoryMb);
    await c.started;
    return { container: c, coldStart: true, release: () => void c.retire() };
  }

  private create(kind: ExecKind, memoryMb: number): Container {
    const c = new Container(
      this.driver,
      { runtime: kind.runtime, isolation: kind.isolation, memoryMb, cpus: this.opts.cpus, startTimeoutMs: this.opts.startTimeoutMs },
      this.log,
    );
    this.live.add(c);
    c.onDeath((dead) => this.live.delete(dead));
    return c;
  }

  /** Starts what the policy asks for; each becomes ready (or counts as a failure) in the background. */
  private refill(state: KindState): Container[] {
    if (this.stopping) return [];
    const n = execDeficit({ target: this.opts.size, ready: state.ready.length, starting: state.starting, backoffUntil: state.backoffUntil, now: Date.now() });
    const started: Container[] = [];
    for (let i = 0; i < n; i++) started.push(this.startOne(state));
    return started;
  }

  private startOne(state: KindState): Container {
    const c = this.create(state.kind, this.opts.memoryMb);
    state.starting++;
    c.started.then(
      () => {
        state.starting--;
        state.failures = 0;
        if (this.stopping) return void c.retire("shutdown");
        c.prepareExec();
        state.ready.push(c);
        // A pooled sandbox that dies unused (the engine removed it, say) leaves the pool and is replaced.
        c.onDeath((dead) => {
          const i = state.ready.indexOf(dead);
          if (i < 0) return;
          state.ready.splice(i, 1);
          this.refill(state);
        });
      },
      (err: Error) => {
        state.starting--;
        if (this.stopping) return;
        state.failures++;
        const wait = backoffMs(state.failures);
        state.backoffUntil = Date.now() + wait;
        this.log.error({ err, ...state.kind, retryInMs: wait }, "an execution sandbox did not start");
        setTimeout(() => this.refill(state), wait).unref();
      },
    );
    return c;
  }
}
