// The supervisor of `npm run up`: runs each program as a child process, restarts one that dies (back-off from
// restart-policy.ts), and stops them all, in reverse start order, only when asked. A program is stopped with
// SIGTERM and killed once its grace (stop-grace.ts) is over.
import type { ChildProcess } from "node:child_process";
import { hostname } from "node:os";
import type { SupervisedComponent, SupervisorStatus } from "../shared/schemas/supervisor.js";
import { NEW_SERIES, afterDeath, isCrashLoop, type RestartPolicyOptions, type RestartSeries } from "./restart-policy.js";

export interface ProgramSpec {
  name: string;
  /** Spawns the program; called again for every restart. */
  spawn(): ChildProcess;
  /** SIGTERM to SIGKILL. */
  graceMs: number;
}

export interface SupervisorEvents {
  /** A line for the operator (up writes it to stderr). */
  note(message: string): void;
  /** Something in status() changed. */
  changed(): void;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function describeExit(exit: Exit, ranMs: number): string {
  const how = exit.signal ?? `exit code ${exit.code}`;
  return `${how} after ${(ranMs / 1000).toFixed(1)} s`;
}

/** Resolves when the child exits (or could not be spawned: an `error` with no `exit`). */
function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resolve({ code: err.code === "ENOENT" ? 127 : 126, signal: null });
    });
  });
}

/** One program: started, watched, restarted after a death, stopped on request. */
class SupervisedProgram {
  private child: ChildProcess | undefined;
  private exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  private startedAt = 0;
  private state: SupervisedComponent["state"] = "stopped";
  private series: RestartSeries = NEW_SERIES;
  private restarts = 0;
  private lastExit: string | undefined;
  private restartAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private stopRequested = false;

  constructor(
    private readonly spec: ProgramSpec,
    private readonly policy: RestartPolicyOptions,
    private readonly events: SupervisorEvents,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.state === "running";
  }

  start(): void {
    this.restartTimer = undefined;
    const child = this.spec.spawn();
    this.child = child;
    this.startedAt = Date.now();
    this.state = "running";
    this.exited = exitOf(child);
    void this.exited.then((exit) => this.onExit(child, exit));
    // A run that lasts ends the series: the crash loop, if any, is over.
    this.stableTimer = setTimeout(() => this.onStable(), this.policy.stableAfterMs);
    this.stableTimer.unref();
    if (this.restarts > 0) this.events.note(`${this.name} restarted (pid ${child.pid ?? "?"}, restart ${this.restarts})`);
    this.events.changed();
  }

  /** SIGTERM, then SIGKILL once the grace is over; no restart afterwards. Resolves when the program is gone. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.stableTimer);
    const child = this.child;
    if (this.state !== "running" || !child) {
      this.state = "stopped";
      return;
    }
    this.state = "stopping";
    this.events.note(`stopping ${this.name} (grace ${Math.round(this.spec.graceMs / 1000)} s)`);
    this.events.changed();
    child.kill("SIGTERM");
    const timer = setTimeout(() => {
      this.events.note(`${this.name} still running after ${this.spec.graceMs} ms: SIGKILL`);
      child.kill("SIGKILL");
    }, this.spec.graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Last resort (up itself is exiting): SIGKILL without waiting. */
  kill(): void {
    this.stopRequested = true;
    clearTimeout(this.restartTimer);
    if (this.state === "running" || this.state === "stopping") this.child?.kill("SIGKILL");
  }

  status(now = Date.now()): SupervisedComponent {
    return {
      name: this.name,
      state: this.state,
      ...(this.state === "running" || this.state === "stopping" ? { pid: this.child?.pid } : {}),
      restarts: this.restarts,
      crashLoop: isCrashLoop(this.series, this.policy),
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
      ...(this.state === "restarting" ? { restartInMs: Math.max(0, this.restartAt - now) } : {}),
    };
  }

  private onExit(child: ChildProcess, exit: Exit): void {
    if (child !== this.child) return;
    clearTimeout(this.stableTimer);
    const ranMs = Date.now() - this.startedAt;
    this.lastExit = describeExit(exit, ranMs);
    if (this.stopRequested) {
      this.state = "stopped";
      this.events.changed();
      return;
    }
    const decision = afterDeath(this.series, ranMs, this.policy);
    this.series = decision.series;
    this.restarts += 1;
    this.state = "restarting";
    this.restartAt = Date.now() + decision.delayMs;
    this.restartTimer = setTimeout(() => this.start(), decision.delayMs);
    const loop = decision.crashLoop
      ? `; CRASH LOOP: ${decision.series.quickDeaths} deaths in a row, each within ${this.policy.stableAfterMs / 1000} s of its start`
      : "";
    this.events.note(`${this.name} died (${this.lastExit}); restarting in ${decision.delayMs} ms${loop}`);
    this.events.changed();
  }

  private onStable(): void {
    if (this.state !== "running" || this.series.quickDeaths === 0) return;
    const wasLoop = isCrashLoop(this.series, this.policy);
    this.series = NEW_SERIES;
    if (wasLoop) this.events.note(`${this.name} has run ${this.policy.stableAfterMs / 1000} s since its last restart: crash loop over`);
    this.events.changed();
  }
}

/** Every program up runs. */
export class Supervisor {
  readonly supervisorId = `up-${hostname()}-${process.pid}`;
  private readonly programs: SupervisedProgram[] = [];
  private state: SupervisorStatus["state"] = "running";
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly policy: RestartPolicyOptions,
    private readonly events: SupervisorEvents,
  ) {}

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Starts the program now and keeps it running until stop(). */
  run(spec: ProgramSpec): void {
    if (this.isStopping) return;
    const program = new SupervisedProgram(spec, this.policy, this.events);
    this.programs.push(program);
    program.start();
  }

  isRunning(name: string): boolean {
    return this.programs.some((p) => p.name === name && p.running);
  }

  /** Stops every program, the last started first. Idempotent: a second call returns the first call's promise. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = "stopping";
      this.events.changed();
      for (const p of [...this.programs].reverse()) await p.stop();
      this.state = "stopped";
      this.events.changed();
    })();
    return this.stopping;
  }

  killAll(): void {
    for (const p of this.programs) p.kill();
  }

  status(): SupervisorStatus {
    return {
      supervisorId: this.supervisorId,
      host: hostname(),
      state: this.state,
      components: this.programs.map((p) => p.status()),
      at: Date.now(),
    };
  }
}
