// Runs ad-hoc code jobs (POST /v1/execute): takes a sandbox from the exec pool, runs the program (script mode) or
// handler(event, context) (handler mode) once, answers the gateway's request and publishes the final record
// (kind execute). The sandbox is removed afterwards, whatever happened: it never runs other code.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { WeftError, asWeftError } from "../shared/errors.js";
import { cutUtf8, LIMITS } from "../shared/limits.js";
import type { Logger } from "../shared/logger.js";
import { ExecuteJob, type ExecutionResult } from "../shared/schemas/execution.js";
import type { FunctionDefinition } from "../shared/schemas/function.js";
import type { InvocationError, RecordEvent } from "../shared/schemas/invocation.js";
import { EXECUTE_AGENTS_QUEUE, executeJobSubject, recordSubject } from "../shared/subjects.js";
import { EXECUTE_RECORD_NAME } from "../shared/records.js";
import { respondWithError } from "../shared/error-reply.js";
import type { ExecOutcome } from "./container.js";
import type { ExecPool, ExecSandbox } from "./exec-pool.js";
import type { ExecKind } from "./exec-pool-policy.js";
import { fromInitFailure, fromRun, type FinalEnding } from "./outcome.js";
import type { RecordOutbox } from "./record-outbox.js";

export interface ExecutionRunnerOptions {
  agentId: string;
  kinds: ExecKind[];
  /** Ad-hoc runs this agent takes at once; past it a request is refused RESOURCE_EXHAUSTED. */
  slots: number;
  cpus: number;
}

/** What a run produced, before it becomes the result object. */
type Produced = Omit<ExecutionResult, "invocationId" | "runtime" | "isolation" | "mode" | "agent" | "durationMs" | "coldStart">;

export class ExecutionRunner {
  private readonly subs: Subscription[] = [];
  private busy = 0;
  private idle: (() => void) | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly pool: ExecPool,
    private readonly outbox: RecordOutbox,
    private readonly opts: ExecutionRunnerOptions,
    private readonly log: Logger,
  ) {}

  get inFlight(): number {
    return this.busy;
  }

  start(): void {
    for (const k of this.opts.kinds) {
      this.subs.push(
        this.nc.subscribe(executeJobSubject(k.runtime, k.isolation), {
          queue: EXECUTE_AGENTS_QUEUE,
          callback: (err, msg) => {
            if (err) this.log.warn({ err }, "execute job subscription error");
            else void this.handle(msg);
          },
        }),
      );
    }
  }

  /** Stops taking jobs; resolves when those running have answered. */
  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    if (this.busy > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  private async handle(msg: Msg): Promise<void> {
    if (!msg.reply) return; // sync only: nobody would hear the result
    if (this.busy >= this.opts.slots) return this.refuse(msg, new WeftError("RESOURCE_EXHAUSTED", `this agent runs ${this.opts.slots} ad-hoc programs at once; retry`));
    this.busy++;
    try {
      let job: ExecuteJob;
      try {
        job = ExecuteJob.parse(msg.json());
      } catch {
        return this.refuse(msg, new WeftError("INVALID_ARGUMENT", "the execute job is malformed"));
      }
      const { result, release } = await this.execute(job);
      try {
        msg.respond(JSON.stringify(result));
      } finally {
        // After the answer: removing the sandbox and starting its replacement would compete with it for the cores.
        release();
      }
      await this.record(job, result);
    } catch (err) {
      this.log.error({ err }, "an ad-hoc run failed inside the agent");
      this.refuse(msg, err);
    } finally {
      if (--this.busy === 0) this.idle?.();
    }
  }

  private refuse(msg: Msg, err: unknown): void {
    respondWithError(msg, asWeftError(err));
  }

  /** Runs the job; `release` removes its sandbox (and lets the pool refill), to be called once the answer is sent. */
  private async execute(job: ExecuteJob): Promise<{ result: ExecutionResult; release: () => void }> {
    const log = this.log.child({ invocationId: job.invocationId, traceId: job.traceId, runtime: job.runtime, isolation: job.isolation, mode: job.mode });
    const base = { invocationId: job.invocationId, runtime: job.runtime, isolation: job.isolation, mode: job.mode, agent: this.opts.agentId };
    let sandbox: ExecSandbox;
    try {
      sandbox = await this.pool.take(job, job.memoryMb);
    } catch (err) {
      log.warn({ err }, "no sandbox for an ad-hoc run");
      const error: InvocationError = { code: "PLATFORM_ERROR", message: `no sandbox could be started: ${(err as Error).message}` };
      return { result: { ...base, status: "killed", error, durationMs: 0, coldStart: true, stdout: "", stderr: "", exitCode: null }, release: () => {} };
    }
    const started = performance.now();
    try {
      const produced = job.mode === "script" ? scriptResult(await sandbox.container.exec(job.code, job.stdin, job.timeoutMs), job.timeoutMs) : await this.runHandler(job, sandbox);
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      log.debug({ status: produced.status, durationMs, coldStart: sandbox.coldStart }, "ad-hoc run finished");
      return { result: { ...base, ...produced, durationMs, coldStart: sandbox.coldStart }, release: sandbox.release };
    } catch (err) {
      sandbox.release();
      throw err;
    }
  }

  /** Handler mode: the stem cell loads the code as a one-off function, runs the event once, and is removed. */
  private async runHandler(job: ExecuteJob, sandbox: ExecSandbox): Promise<Produced> {
    const c = sandbox.container;
    const memoryMb = c.memoryMb;
    const def: FunctionDefinition = {
      name: EXECUTE_RECORD_NAME, incarnation: job.invocationId.slice(0, 64), version: 1, runtime: job.runtime, isolation: job.isolation,
      code: job.code, limits: { timeoutMs: job.timeoutMs, memoryMb }, env: {}, concurrency: 1, minWarm: 0, codeSha256: "", createdAt: new Date().toISOString(),
    };
    c.claim(def, { memoryMb, cpus: this.opts.cpus });
    const init = await c.init();
    if (!init.ok) return handlerResult(fromInitFailure(init, 0) as FinalEnding);
    const ctx = { invocationId: job.invocationId, functionName: def.name, version: 1, memoryMb, deadline: Date.now() + job.timeoutMs, traceId: job.traceId ?? "", attempt: 1 };
    const run = await c.run(ctx, Buffer.from(job.event), job.timeoutMs);
    const ending = fromRun(run, sandbox.coldStart, 0, job.timeoutMs);
    if (ending.kind === "platform") return failed("PLATFORM_ERROR", ending.message);
    return handlerResult(ending);
  }

  /** The final record, kept like an invocation's (kind execute): GET /v1/invocations/{id} finds it. */
  private async record(job: ExecuteJob, r: ExecutionResult): Promise<void> {
    const now = Date.now();
    const logs = cutUtf8(r.stdout + r.stderr, LIMITS.logBytes);
    const output = r.output === undefined ? undefined : cutUtf8(JSON.stringify(r.output), LIMITS.recordPayloadBytes);
    const record: RecordEvent = {
      invocationId: r.invocationId, functionName: EXECUTE_RECORD_NAME, kind: "execute", phase: "final", enqueuedAt: job.enqueuedAt,
      traceId: job.traceId, agent: r.agent, startedAt: now - r.durationMs, coldStart: r.coldStart, attempt: 1, status: r.status,
      ...(r.error ? { error: r.error } : {}),
      ...(output ? { output: output.text, outputTruncated: output.truncated } : {}),
      durationMs: r.durationMs, logs: logs.text, logsTruncated: logs.truncated || Boolean(r.stdoutTruncated || r.stderrTruncated), finishedAt: now,
    };
    await this.outbox.publish(recordSubject(EXECUTE_RECORD_NAME), JSON.stringify(record), `${r.invocationId}.final.1`);
  }
}

const failed = (code: InvocationError["code"], message: string): Produced => ({ status: "killed", error: { code, message }, stdout: "", stderr: "", exitCode: null });

/** Script mode: exit code 0 is ok, another is error NONZERO_EXIT, a signal is killed. */
export function scriptResult(o: ExecOutcome, timeoutMs: number): Produced {
  switch (o.kind) {
    case "timeout":
      return { status: "timeout", error: { code: "TIMEOUT", message: `the program did not finish within ${timeoutMs} ms` }, stdout: "", stderr: "", exitCode: null };
    case "failed":
      return failed("KILLED", o.message);
    case "exited": {
      const streams = {
        stdout: o.stdout.toString("utf8"),
        stderr: o.stderr.toString("utf8"),
        ...(o.stdoutTruncated ? { stdoutTruncated: true } : {}),
        ...(o.stderrTruncated ? { stderrTruncated: true } : {}),
      };
      if (o.exitCode === 0) return { status: "ok", exitCode: 0, ...streams };
      if (o.exitCode !== undefined) return { status: "error", error: { code: "NONZERO_EXIT", message: `the program exited with code ${o.exitCode}` }, exitCode: o.exitCode, ...streams };
      if (o.oom) return { status: "killed", error: { code: "OUT_OF_MEMORY", message: "the program ran out of memory" }, exitCode: null, ...streams };
      return { status: "killed", error: { code: "KILLED", message: `the program was killed by ${o.signal ?? "a signal"}` }, exitCode: null, ...streams };
    }
  }
}

/** Handler mode: the function's ending, with its logs as stdout and its output parsed. */
function handlerResult(e: FinalEnding): Produced {
  return {
    status: e.status,
    ...(e.error ? { error: e.error } : {}),
    stdout: e.logs,
    stderr: "",
    ...(e.logsTruncated ? { stdoutTruncated: true } : {}),
    exitCode: null,
    ...(e.output ? { output: JSON.parse(e.output.toString("utf8")) as unknown } : {}),
  };
}
