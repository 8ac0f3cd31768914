// One runtime container: its state machine (starting → ready → removing → dead), its runner channel,
// the invocations in flight in it, their timeouts, and how its death is reported. Everything the container
// writes is untrusted (runner-protocol.ts validates it); a violation ends only this container's calls.
import { randomBytes } from "node:crypto";
import type { Logger } from "../shared/logger.js";
import { LIMITS, cutUtf8 } from "../shared/limits.js";
import { scanJson } from "../shared/json-scan.js";
import type { FunctionDefinition } from "../shared/schemas/function.js";
import type { DockerDriver, Isolation, Runtime } from "./docker-driver.js";
import type { RunnerChannel } from "./runner-channel.js";
import {
  FrameDecoder,
  ProtocolViolation,
  encodeExec,
  encodeExecPrepare,
  encodeInit,
  encodeRun,
  type ExitInfo,
  type FrameLimits,
  type ReceivedFrame,
  type RunContext,
  type RunnerError,
} from "./runner-protocol.js";

export type ContainerState = "starting" | "ready" | "removing" | "dead";

type Logs = { logs: string; logsTruncated: boolean };

/** How one run ended, as data. `platform` marks a death the function did not cause (it may be retried). */
export type RunOutcome = Logs &
  (
    | { kind: "ok"; output: Buffer }
    | { kind: "error"; code: "HANDLER_ERROR" | "OUTPUT_NOT_JSON" | "OUTPUT_TOO_LARGE" | "OUTPUT_TOO_DEEP"; error: RunnerError }
    | { kind: "timeout" }
    | { kind: "killed"; code: "KILLED" | "OUT_OF_MEMORY" | "RUNTIME_PROTOCOL_ERROR"; message: string; platform: boolean }
  );

/** How an ad-hoc program (exec frame) ended; stdout and stderr are each cut at the log limit. */
export type ExecOutcome =
  | { kind: "exited"; exitCode?: number | undefined; signal?: string | undefined; oom: boolean; stdout: Buffer; stderr: Buffer; stdoutTruncated: boolean; stderrTruncated: boolean }
  | { kind: "timeout" }
  | { kind: "failed"; message: string };

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
  /** Read-only mounts of a bundle's build (only ever with bindTo). */
  mounts?: ReadonlyArray<{ source: string; target: string }>;
  startTimeoutMs: number;
  logBytes?: number;
}

interface PendingRun {
  id: string;
  resolve(outcome: RunOutcome): void;
  timer: NodeJS.Timeout;
  prefixLogs: string;
}

/** What ends an init: the runner's answer, or the container lost (timed out, died, broke the protocol). */
type InitReply =
  | { t: "init_ok"; logs: string }
  | { t: "init_error"; error: RunnerError; logs: string }
  | { t: "lost"; reason: "timeout" | "died"; message: string };

/** Why the agent itself ended a container; decides what its in-flight runs are told. */
type KillReason =
  | { kind: "timeout"; runId: string }
  | { kind: "violation"; message: string }
  | { kind: "retired" }
  | { kind: "shutdown" };

/** The runner's own diagnostics on stderr are logged up to this much per container, then dropped. */
const RUNNER_STDERR_BYTES = 64 * 1024;

/** A runner error type → the invocation error code it means. */
const ERROR_CODES: Record<string, "OUTPUT_NOT_JSON" | "OUTPUT_TOO_LARGE" | "OUTPUT_TOO_DEEP"> = {
  OutputNotJson: "OUTPUT_NOT_JSON",
  OutputTooLarge: "OUTPUT_TOO_LARGE",
  OutputTooDeep: "OUTPUT_TOO_DEEP",
};

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
  /** Set when the runner says the container must serve no further call (see retireAfterRun). */
  retiring: string | undefined;

  private readonly runs = new Map<string, PendingRun>();
  private readonly limits: FrameLimits;
  private readonly log: Logger;
  private channel: RunnerChannel | undefined;
  private readyWaiter: { resolve(): void; reject(err: Error): void } | undefined;
  private initWaiter: ((reply: InitReply) => void) | undefined;
  private initLogs = "";
  private execWaiter: ((outcome: ExecOutcome) => void) | undefined;
  private killReason: KillReason | undefined;
  private runSeq = 0;
  private stderrBytes = 0;
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
    this.limits = { logBytes: opts.logBytes ?? LIMITS.logBytes, outputBytes: LIMITS.payloadBytes };
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
      binding: bind ? { functionName: bind.name, version: bind.version } : undefined,
      ...(this.opts.mounts ? { mounts: this.opts.mounts } : {}),
    });
    this.id = attached.id;
    this.channel = attached.channel;
    if (this.state !== "starting") {
      // Retired (the pool is stopping) while Docker was still creating it: nobody else knows its id.
      attached.channel.close();
      await this.driver.remove(attached.id);
      throw new Error("container retired while starting");
    }
    const decoder = new FrameDecoder(this.limits, (f) => this.onFrame(f));
    attached.channel.onData(
      (chunk) => this.feed(decoder, chunk),
      (chunk) => this.onRunnerStderr(chunk),
    );
    attached.channel.onClose(() => void this.onExit());
    attached.channel.onError((err) => this.log.warn({ err, containerId: this.id }, "container channel error"));
    await this.waitReady();
    // A frame in the same read as "ready" may already have retired it.
    if (this.state !== "starting") throw new Error("container retired while starting");
    this.state = "ready";
    this.log.debug({ containerId: this.id, ms: Date.now() - started }, "container ready");
  }

  /** Untrusted bytes in: any violation ends this container's calls and the container, nothing else. */
  private feed(decoder: FrameDecoder, chunk: Buffer): void {
    if (this.state === "removing" || this.state === "dead") return;
    try {
      decoder.feed(chunk);
    } catch (err) {
      const message = err instanceof ProtocolViolation ? `the container broke the runner protocol: ${err.message}` : `reading the container failed: ${String(err)}`;
      this.log.warn({ containerId: this.id, err }, "runner protocol violation; retiring the container");
      void this.kill({ kind: "violation", message });
    }
  }

  private onRunnerStderr(chunk: Buffer): void {
    if (this.stderrBytes >= RUNNER_STDERR_BYTES) return;
    this.stderrBytes += chunk.length;
    this.log.info({ containerId: this.id, text: chunk.subarray(0, 2000).toString("utf8") }, "runner diagnostics");
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
    const reply = await new Promise<InitReply>((resolve) => {
      const timer = setTimeout(() => {
        this.initWaiter = undefined;
        void this.kill({ kind: "retired" });
        resolve({ t: "lost", reason: "timeout", message: `init did not finish within ${def.limits.timeoutMs} ms` });
      }, def.limits.timeoutMs);
      this.initWaiter = (r) => {
        clearTimeout(timer);
        this.initWaiter = undefined;
        resolve(r);
      };
      this.write(encodeInit(def, this.limits));
    });
    switch (reply.t) {
      case "init_ok":
        this.initLogs = reply.logs;
        this.initialised = true;
        return { ok: true, logs: reply.logs };
      case "init_error":
        return { ok: false, reason: "error", error: reply.error, logs: reply.logs };
      case "lost":
        return { ok: false, reason: reply.reason, error: { type: reply.reason === "timeout" ? "InitTimeout" : "InitFailed", message: reply.message }, logs: "" };
    }
  }

  /** Runs one event (JSON bytes, already checked); never rejects: every ending is a RunOutcome. */
  run(ctx: RunContext, event: Uint8Array, timeoutMs: number): Promise<RunOutcome> {
    const id = String(++this.runSeq);
    return new Promise<RunOutcome>((resolve) => {
      if (this.state !== "ready" || this.retiring) {
        resolve({ kind: "killed", code: "KILLED", message: "container is gone", platform: true, logs: "", logsTruncated: false });
        return;
      }
      this.runs.set(id, { id, resolve, prefixLogs: this.initLogs, timer: setTimeout(() => this.onTimeout(id), timeoutMs) });
      this.initLogs = "";
      this.write(encodeRun(id, ctx, event));
    });
  }

  /** Pre-starts the interpreter an ad-hoc program will run in, so exec costs no interpreter start. */
  prepareExec(): void {
    if (this.state === "ready" && !this.binding) this.write(encodeExecPrepare());
  }

  /** Runs an ad-hoc program in this stem cell (never rejects); the container is removed afterwards, whatever happens. */
  exec(code: string, stdin: string, timeoutMs: number): Promise<ExecOutcome> {
    return new Promise<ExecOutcome>((resolve) => {
      if (this.state !== "ready" || this.binding || this.retiring) return resolve({ kind: "failed", message: "the container is not a free stem cell" });
      this.retiring = "it ran ad-hoc code";
      const timer = setTimeout(() => {
        this.execWaiter = undefined;
        resolve({ kind: "timeout" });
        void this.kill({ kind: "retired" });
      }, timeoutMs);
      // Removed by the caller once it has answered (ExecSandbox.release): the removal would compete with the answer.
      this.execWaiter = (outcome) => {
        clearTimeout(timer);
        this.execWaiter = undefined;
        resolve(outcome);
      };
      this.write(encodeExec(code, stdin, this.limits.logBytes));
    });
  }

  /** Removes the container; its in-flight runs end as killed. */
  retire(reason: "retired" | "shutdown" = "retired"): Promise<void> {
    return this.kill({ kind: reason });
  }

  private write(parts: Buffer[]): void {
    const s = this.channel;
    if (!s) return;
    if (parts.length === 2 && parts[0]!.length + parts[1]!.length < 64 * 1024) s.write(Buffer.concat(parts));
    else for (const p of parts) s.write(p);
  }

  private onFrame({ frame, output, logs }: ReceivedFrame): void {
    switch (frame.t) {
      case "ready":
        this.readyWaiter?.resolve();
        this.readyWaiter = undefined;
        return;
      case "init_ok":
        return this.answerInit({ t: "init_ok", logs: logs.toString("utf8") });
      case "init_error":
        return this.answerInit({ t: "init_error", error: frame.error, logs: logs.toString("utf8") });
      case "fault":
        this.finish(frame.id, (r) => this.protocolError(r, frame.reason, logs.toString("utf8")));
        this.retireAfterRun(frame.reason);
        return;
      case "refused":
        // The call never reached the function (the container broke before it arrived): another container may run it.
        this.finish(frame.id, () => ({ kind: "killed", code: "KILLED", message: `the container could not take the call: ${frame.reason}`, platform: true, logs: "", logsTruncated: false }));
        this.retireAfterRun(frame.reason);
        return;
      case "retired":
        this.retireAfterRun(frame.reason);
        return;
      case "exec_result":
      case "exec_error":
        if (!this.execWaiter) throw new ProtocolViolation(`${frame.t} while no program runs`);
        return this.execWaiter(
          frame.t === "exec_error"
            ? { kind: "failed", message: frame.message }
            : { kind: "exited", exitCode: frame.exitCode, signal: frame.signal, oom: frame.oom ?? false, stdout: output, stderr: logs, stdoutTruncated: frame.stdoutTruncated, stderrTruncated: frame.stderrTruncated },
        );
      case "result": {
        const run = this.runs.get(frame.id);
        if (!run) throw new ProtocolViolation(`a result for call ${JSON.stringify(frame.id)}, which is not in flight`);
        const logText = logs.toString("utf8");
        this.finish(frame.id, (r) => this.outcomeOf(r, frame, output, logText));
        if (frame.retire) this.retireAfterRun(frame.retire);
        return;
      }
    }
  }

  private answerInit(reply: InitReply): void {
    if (!this.initWaiter) throw new ProtocolViolation("an init answer while no init is in progress");
    this.initWaiter(reply);
  }

  private outcomeOf(run: PendingRun, frame: Extract<ReceivedFrame["frame"], { t: "result" }>, output: Buffer, logText: string): RunOutcome {
    const logs = this.logsOf(run, logText, frame.logsTruncated);
    if (frame.ok) {
      if (frame.error || frame.exit) return this.protocolError(run, "a result that is both ok and failed", logText);
      const scan = scanJson(output, LIMITS.jsonDepth);
      if (scan.ok) return { kind: "ok", output, ...logs };
      if (scan.reason === "depth") {
        const message = `the output is nested deeper than ${LIMITS.jsonDepth} levels`;
        return { kind: "error", code: "OUTPUT_TOO_DEEP", error: { type: "OutputTooDeep", message }, ...logs };
      }
      this.retireAfterRun("the container returned output that is not JSON");
      return this.protocolError(run, `the output is not JSON (at byte ${scan.at})`, logText);
    }
    if (frame.exit) return this.exitOutcome(frame.exit, logs);
    if (!frame.error) return this.protocolError(run, "a failed result without an error", logText);
    return { kind: "error", code: ERROR_CODES[frame.error.type] ?? "HANDLER_ERROR", error: frame.error, ...logs };
  }

  private exitOutcome(exit: ExitInfo, logs: Logs): RunOutcome {
    if (exit.oom) return { kind: "killed", code: "OUT_OF_MEMORY", message: `out of memory (limit ${this.memoryMb} MB)`, platform: false, ...logs };
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? "unknown"}`;
    return { kind: "killed", code: "KILLED", message: `the function's process ${how} during the invocation`, platform: false, ...logs };
  }

  private protocolError(run: PendingRun, why: string, logText: string): RunOutcome {
    return { kind: "killed", code: "RUNTIME_PROTOCOL_ERROR", message: why, platform: false, ...this.logsOf(run, logText, false) };
  }

  private logsOf(run: PendingRun, runnerLogs: string, runnerTruncated: boolean): Logs {
    const cut = cutUtf8(run.prefixLogs + runnerLogs, this.limits.logBytes);
    return { logs: cut.text, logsTruncated: runnerTruncated || cut.truncated };
  }

  /** The runner asked for the container to serve no further call: it goes once its calls have ended. */
  private retireAfterRun(why: string): void {
    this.retiring ??= why;
    this.log.info({ containerId: this.id, why }, "retiring the container after its call");
    if (this.runs.size === 0) void this.kill({ kind: "retired" });
  }

  private finish(id: string, outcome: (run: PendingRun) => RunOutcome): void {
    const run = this.runs.get(id);
    if (!run) return;
    clearTimeout(run.timer);
    this.runs.delete(id);
    this.lastUsedAt = Date.now();
    run.resolve(outcome(run));
    if (this.retiring && this.runs.size === 0) void this.kill({ kind: "retired" });
  }

  private onTimeout(id: string): void {
    if (!this.runs.has(id)) return;
    // After a stall of this process, timers fire before the I/O that arrived meanwhile: give a result that is
    // already waiting one turn of the event loop, so a call that finished in time is not killed as late.
    setImmediate(() => {
      if (!this.runs.has(id)) return;
      this.log.info({ containerId: this.id, run: id }, "invocation timed out; killing its container");
      void this.kill({ kind: "timeout", runId: id });
    });
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
        if (reason?.kind === "violation") return { kind: "killed", code: "RUNTIME_PROTOCOL_ERROR", message: reason.message, platform: false, ...logs };
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
    this.initWaiter?.({ t: "lost", reason: "died", message: reason?.kind === "violation" ? reason.message : "the container exited during init" });
    this.readyWaiter?.reject(new Error("the container exited while starting"));
    this.readyWaiter = undefined;
    this.execWaiter?.({ kind: "failed", message: reason?.kind === "violation" ? reason.message : "the container exited while the program ran" });
  }

  /** The runner's channel closed ("end" and "close" both say so; the first one counts). */
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
    this.channel?.close();
    for (const listener of this.deathListeners) listener(this);
  }
}
