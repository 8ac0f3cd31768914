// One runtime container: its state machine (starting → ready → removing → dead), its protocol stream,
// the invocations in flight in it, their timeouts, the output cap, and how its death is reported.
import { randomBytes } from "node:crypto";
import type { Logger } from "../shared/logger.js";
import { LIMITS, cutUtf8 } from "../shared/limits.js";
import type { FunctionDefinition } from "../shared/schemas/function.js";
import type { DockerDriver, Isolation, Runtime } from "./docker-driver.js";
import {
  AttachDemuxer,
  FrameReader,
  encodeInit,
  encodeRun,
  newFrameToken,
  type RunContext,
  type RunnerError,
  type RunnerFrame,
} from "./runner-protocol.js";

export type ContainerState = "starting" | "ready" | "removing" | "dead";

/** How one run ended, as data. `platform` marks a death the function did not cause (it may be retried). */
export type RunOutcome = { logs: string; logsTruncated: boolean } & (
  | { kind: "ok"; output: unknown }
  | { kind: "error"; code: "HANDLER_ERROR" | "OUTPUT_NOT_JSON"; error: RunnerError }
  | { kind: "timeout" }
  | { kind: "killed"; code: "KILLED" | "OUT_OF_MEMORY"; message: string; platform: boolean }
);

export type InitOutcome =
  | { ok: true; logs: string }
  | { ok: false; reason: "error" | "timeout" | "died"; error: RunnerError; logs: string };

export interface ContainerOptions {
  runtime: Runtime;
  isolation: Isolation;
  memoryMb: number;
  cpus?: number;
  /** Created for one function version (cold start) rather than as a stem cell. */
  bindTo?: FunctionDefinition;
  startTimeoutMs: number;
  logBytes?: number;
  outputCapBytes?: number;
}

interface PendingRun {
  id: string;
  resolve(outcome: RunOutcome): void;
  timer: NodeJS.Timeout;
  stray: string;
  prefixLogs: string;
  /** The result frame, held until the run's end marker arrives on stderr. */
  result: Extract<RunnerFrame, { t: "result" }> | undefined;
  ended: boolean;
  graceTimer: NodeJS.Timeout | undefined;
}

/** A result whose end marker is this late is delivered anyway (the handler may have closed its stderr). */
const END_MARKER_GRACE_MS = 1000;

/** What ends an init: the runner's answer, or the container lost (timed out or died). */
type InitReply =
  | Extract<RunnerFrame, { t: "init_ok" | "init_error" }>
  | { t: "lost"; reason: "timeout" | "died"; message: string };

/** Why the agent itself ended a container; decides what its in-flight runs are told. */
type KillReason =
  | { kind: "timeout"; runId: string }
  | { kind: "output"; runId: string }
  | { kind: "retired" }
  | { kind: "shutdown" };

export class Container {
  readonly ref = randomBytes(4).toString("hex");
  readonly runtime: Runtime;
  readonly isolation: Isolation;
  memoryMb: number;
  cpus: number | undefined;
  state: ContainerState = "starting";
  id = "";
  /** The function version this container runs or is loading; undefined while it is an unclaimed stem cell. */
  binding: FunctionDefinition | undefined;
  /** Its code is loaded: a job given it now is warm. */
  initialised = false;
  /** Jobs holding this container (waiting for its start or init, or running). */
  leases = 0;
  lastUsedAt = Date.now();

  private readonly token = newFrameToken();
  private readonly runs = new Map<string, PendingRun>();
  private readonly logBytes: number;
  private readonly outputCapBytes: number;
  private readonly log: Logger;
  /** Bytes written since the container was last idle; past the cap the container is killed. */
  private outputBytes = 0;
  private stream: NodeJS.ReadWriteStream | undefined;
  private readyWaiter: { resolve(): void; reject(err: Error): void } | undefined;
  private initWaiter: ((reply: InitReply) => void) | undefined;
  private initStray = "";
  private initLogs = "";
  private killReason: KillReason | undefined;
  private runSeq = 0;
  private deathListeners: Array<(c: Container) => void> = [];
  readonly started: Promise<void>;
  private initPromise: Promise<InitOutcome> | undefined;
  private exiting: Promise<void> | undefined;

  constructor(
    private readonly driver: DockerDriver,
    private readonly opts: ContainerOptions,
    log: Logger,
  ) {
    this.runtime = opts.runtime;
    this.isolation = opts.isolation;
    this.memoryMb = opts.memoryMb;
    this.cpus = opts.cpus;
    this.binding = opts.bindTo;
    this.logBytes = opts.logBytes ?? LIMITS.logBytes;
    this.outputCapBytes = opts.outputCapBytes ?? LIMITS.containerOutputBytes;
    this.log = log.child({ container: this.ref, runtime: this.runtime, isolation: this.isolation });
    this.started = this.boot().catch(async (err: unknown) => {
      await this.kill({ kind: "retired" });
      throw err;
    });
    // The pool awaits `started` where it needs it; an unobserved rejection must not crash the agent.
    this.started.catch(() => {});
  }

  get capacity(): number {
    return this.binding?.concurrency ?? 1;
  }

  get isStem(): boolean {
    return this.binding === undefined;
  }

  /** Binds a stem cell to one function version; from now on it serves only that version. */
  claim(def: FunctionDefinition, limits: { memoryMb: number; cpus: number | undefined }): void {
    if (this.binding) throw new Error(`container ${this.ref} is already bound to ${this.binding.name}`);
    this.binding = def;
    this.memoryMb = limits.memoryMb;
    this.cpus = limits.cpus;
  }

  onDeath(listener: (c: Container) => void): void {
    this.deathListeners.push(listener);
  }

  private async boot(): Promise<void> {
    const started = Date.now();
    const bind = this.opts.bindTo;
    const attached = await this.driver.create({
      runtime: this.runtime,
      isolation: this.isolation,
      memoryMb: this.memoryMb,
      cpus: this.cpus,
      token: this.token,
      binding: bind ? { functionName: bind.name, version: bind.version } : undefined,
    });
    this.id = attached.id;
    this.stream = attached.stream;
    if (this.state !== "starting") {
      // Retired (the pool is stopping) while Docker was still creating it: nobody else knows its id.
      attached.stream.destroy();
      await this.driver.remove(attached.id);
      throw new Error("container retired while starting");
    }
    const sink = { frame: (f: RunnerFrame) => this.onFrame(f), stray: (t: string) => this.onStray(t) };
    const stdout = new FrameReader(this.token, sink);
    const stderr = new FrameReader(this.token, sink);
    const demux = new AttachDemuxer(
      (chunk) => this.onOutput(chunk) && stdout.feed(chunk),
      (chunk) => this.onOutput(chunk) && stderr.feed(chunk),
    );
    attached.stream.on("data", (chunk: Buffer) => demux.feed(chunk));
    attached.stream.on("close", () => void this.onExit());
    attached.stream.on("end", () => void this.onExit());
    attached.stream.on("error", (err) => this.log.warn({ err, containerId: this.id }, "container stream error"));
    await this.waitReady();
    this.state = "ready";
    this.log.debug({ containerId: this.id, ms: Date.now() - started }, "container ready");
  }

  private waitReady(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiter = undefined;
        reject(new Error(`container not ready within ${this.opts.startTimeoutMs} ms`));
        void this.kill({ kind: "retired" });
      }, this.opts.startTimeoutMs);
      this.readyWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }

  /** Loads the bound function's code (once; concurrent callers share the outcome). */
  init(): Promise<InitOutcome> {
    const def = this.binding;
    if (!def) return Promise.reject(new Error(`container ${this.ref} has no function bound`));
    this.initPromise ??= this.doInit(def);
    return this.initPromise;
  }

  private async doInit(def: FunctionDefinition): Promise<InitOutcome> {
    await this.started;
    const frame = await new Promise<InitReply>((resolve) => {
      const timer = setTimeout(() => {
        this.initWaiter = undefined;
        void this.kill({ kind: "retired" });
        resolve({ t: "lost", reason: "timeout", message: `init did not finish within ${def.limits.timeoutMs} ms` });
      }, def.limits.timeoutMs);
      this.initWaiter = (f) => {
        clearTimeout(timer);
        this.initWaiter = undefined;
        resolve(f);
      };
      this.write(encodeInit(def, this.logBytes));
    });
    const logs = (frame.t === "lost" ? "" : frame.logs ?? "") + this.initStray;
    this.initStray = "";
    switch (frame.t) {
      case "init_ok":
        this.initLogs = logs;
        this.initialised = true;
        return { ok: true, logs };
      case "init_error":
        return { ok: false, reason: "error", error: frame.error, logs };
      case "lost":
        return { ok: false, reason: frame.reason, error: { type: frame.reason === "timeout" ? "InitTimeout" : "InitFailed", message: frame.message }, logs };
    }
  }

  /** Runs one event; never rejects: every ending is a RunOutcome. */
  run(ctx: RunContext, eventJson: string, timeoutMs: number): Promise<RunOutcome> {
    const id = String(++this.runSeq);
    return new Promise<RunOutcome>((resolve) => {
      if (this.state !== "ready") {
        resolve({ kind: "killed", code: "KILLED", message: "container is gone", platform: true, logs: "", logsTruncated: false });
        return;
      }
      const run: PendingRun = {
        id,
        resolve,
        stray: "",
        prefixLogs: this.initLogs,
        timer: setTimeout(() => this.onTimeout(id), timeoutMs),
        result: undefined,
        ended: false,
        graceTimer: undefined,
      };
      this.initLogs = "";
      if (this.runs.size === 0) this.outputBytes = 0;
      this.runs.set(id, run);
      this.write(encodeRun(id, ctx, eventJson));
    });
  }

  /** Removes the container; its in-flight runs end as killed. */
  retire(reason: "retired" | "shutdown" = "retired"): Promise<void> {
    return this.kill({ kind: reason });
  }

  private write(frame: string): void {
    this.stream?.write(frame);
  }

  private onFrame(frame: RunnerFrame): void {
    switch (frame.t) {
      case "ready":
        this.readyWaiter?.resolve();
        this.readyWaiter = undefined;
        return;
      case "init_ok":
      case "init_error":
        this.initWaiter?.(frame);
        return;
      case "result":
      case "end":
        this.onRunFrame(frame);
        return;
    }
  }

  private outcomeOf(frame: Extract<RunnerFrame, { t: "result" }>, run: PendingRun): RunOutcome {
    const logs = this.logsOf(run, frame.logs ?? "", frame.logsTruncated === true);
    if (frame.ok) return { kind: "ok", output: frame.output, ...logs };
    const code = frame.error?.type === "OutputNotJson" ? "OUTPUT_NOT_JSON" : "HANDLER_ERROR";
    return { kind: "error", code, error: frame.error, ...logs };
  }

  private logsOf(run: PendingRun, runnerLogs: string, runnerTruncated: boolean): { logs: string; logsTruncated: boolean } {
    const cut = cutUtf8(run.prefixLogs + runnerLogs + run.stray, this.logBytes);
    return { logs: cut.text, logsTruncated: runnerTruncated || cut.truncated };
  }

  /** A run completes when its result and its end marker have both arrived, in either order. */
  private onRunFrame(frame: Extract<RunnerFrame, { t: "result" | "end" }>): void {
    const run = this.runs.get(frame.id);
    if (!run) return;
    if (frame.t === "end") run.ended = true;
    else run.result = frame;
    const result = run.result;
    if (!result) return;
    if (run.ended) {
      this.finish(run.id, (r) => this.outcomeOf(result, r));
      return;
    }
    run.graceTimer ??= setTimeout(() => {
      this.log.warn({ containerId: this.id, run: run.id }, "run ended without its end marker on stderr");
      this.finish(run.id, (r) => this.outcomeOf(result, r));
    }, END_MARKER_GRACE_MS);
  }

  private finish(id: string, outcome: (run: PendingRun) => RunOutcome): void {
    const run = this.runs.get(id);
    if (!run) return;
    clearTimeout(run.timer);
    clearTimeout(run.graceTimer);
    this.runs.delete(id);
    this.lastUsedAt = Date.now();
    run.resolve(outcome(run));
  }

  /**
   * Counts every byte the container writes since it was last idle (output arriving after a run's result
   * counts too); past the cap the container is killed. Returns whether to go on reading.
   */
  private onOutput(chunk: Buffer): boolean {
    this.outputBytes += chunk.length;
    if (this.outputBytes <= this.outputCapBytes) return true;
    const first = this.runs.values().next();
    void this.kill(first.done ? { kind: "retired" } : { kind: "output", runId: first.value.id });
    return false;
  }

  /** Output that is not a frame: it belongs to the oldest run in flight, or to the init in progress. */
  private onStray(text: string): void {
    if (!text) return;
    const first = this.runs.values().next();
    if (!first.done) {
      const run = first.value;
      if (run.stray.length < this.logBytes) run.stray += text;
    } else if (this.initWaiter || this.state === "starting") {
      if (this.initStray.length < this.logBytes) this.initStray += text;
    } else {
      this.log.debug({ containerId: this.id, text: text.slice(0, 200) }, "container output outside an invocation");
    }
  }

  private onTimeout(id: string): void {
    if (!this.runs.has(id)) return;
    this.log.info({ containerId: this.id, run: id }, "invocation timed out; killing its container");
    void this.kill({ kind: "timeout", runId: id });
  }

  private async kill(reason: KillReason): Promise<void> {
    if (this.state === "dead" || this.state === "removing") return;
    this.killReason = reason;
    this.state = "removing";
    this.settleAll();
    try {
      if (this.id) await this.driver.remove(this.id);
    } catch (err) {
      this.log.warn({ err, containerId: this.id }, "removing container failed");
    }
    this.markDead();
  }

  /** Ends every run in flight (and a pending init) according to why the container is going. */
  private settleAll(exit?: { oomKilled: boolean; exitCode: number | undefined }): void {
    const reason = this.killReason;
    for (const run of [...this.runs.values()]) {
      this.finish(run.id, (r) => {
        const logs = this.logsOf(r, "", false);
        if (reason?.kind === "timeout" && reason.runId === r.id) return { kind: "timeout", ...logs };
        if (reason?.kind === "output" && reason.runId === r.id) {
          return { kind: "killed", code: "KILLED", message: `output exceeded ${this.outputCapBytes} bytes`, platform: false, ...logs };
        }
        if (reason) {
          const message = reason.kind === "shutdown" ? "the agent is shutting down" : "its container was stopped";
          return { kind: "killed", code: "KILLED", message, platform: true, ...logs };
        }
        if (exit?.oomKilled) {
          return { kind: "killed", code: "OUT_OF_MEMORY", message: `out of memory (limit ${this.memoryMb} MB)`, platform: false, ...logs };
        }
        const message = `the container exited${exit?.exitCode !== undefined ? ` with code ${exit.exitCode}` : ""} during the invocation`;
        return { kind: "killed", code: "KILLED", message, platform: false, ...logs };
      });
    }
    this.initWaiter?.({ t: "lost", reason: "died", message: "the container exited during init" });
    this.readyWaiter?.reject(new Error("the container exited while starting"));
    this.readyWaiter = undefined;
  }

  /** The attached stream ended ("end" and "close" both say so; the first one counts). */
  private onExit(): Promise<void> {
    this.exiting ??= this.handleExit();
    return this.exiting;
  }

  /** The container is gone, whether the agent ended it or not. */
  private async handleExit(): Promise<void> {
    if (this.state === "dead") return;
    if (this.state !== "removing") {
      this.state = "removing";
      const exit = this.runs.size > 0 && this.id ? await this.exitInfoSafe() : undefined;
      this.settleAll(exit);
      if (this.id) await this.driver.remove(this.id).catch((err: Error) => this.log.warn({ err }, "removing container failed"));
      this.log.info({ containerId: this.id, oomKilled: exit?.oomKilled, exitCode: exit?.exitCode }, "container exited");
    }
    this.markDead();
  }

  private async exitInfoSafe(): Promise<{ oomKilled: boolean; exitCode: number | undefined } | undefined> {
    try {
      return await this.driver.exitInfo(this.id);
    } catch (err) {
      this.log.warn({ err, containerId: this.id }, "inspecting a dead container failed");
      return undefined;
    }
  }

  private markDead(): void {
    if (this.state === "dead") return;
    this.state = "dead";
    this.stream?.end();
    this.stream?.removeAllListeners("data");
    (this.stream as { destroy?: () => void } | undefined)?.destroy?.();
    for (const listener of this.deathListeners) listener(this);
  }
}
