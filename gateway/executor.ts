// Ad-hoc code execution at the gateway: validates the request, applies the per-client rate limit, and hands the job
// to an agent holding pre-started sandboxes of its runtime × isolation (a core NATS request; the agent answers with
// the result object). Synchronous only: a run is bounded by its timeout, at most a minute.
import { imageRuntimeOf, languageOf, resolveRuntime, type Runtime } from "../shared/runtimes.js";
import { describeTranspileError, transpileTypeScript } from "../shared/typescript.js";
import { randomUUID } from "node:crypto";
import { NoRespondersError, RequestError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { WeftError, fromZodError, unavailable } from "../shared/errors.js";
import { errorInReply } from "../shared/error-reply.js";
import { LIMITS } from "../shared/limits.js";
import type { Logger } from "../shared/logger.js";
import { ExecuteRequest, type ExecuteJob } from "../shared/schemas/execution.js";
import { executeJobSubject } from "../shared/subjects.js";
import { checkEvent } from "./event.js";
import type { NatsLink } from "./nats-link.js";
import { RateLimiter } from "./rate-limit.js";
import type { Via } from "./invoker.js";

/** Beyond the program's own timeout: a sandbox start when none is pre-started, and the hand-offs. */
export const EXECUTE_ALLOWANCE_MS = 30_000;
/** Room left in a NATS message for its headers and protocol envelope. */
const JOB_ENVELOPE_BYTES = 64 * 1024;

export interface ExecutorOptions {
  ratePerSec: number;
  burst: number;
}

/** Counters since start (the gateway's metrics read them). */
export interface ExecutorCounts {
  accepted: number;
  rateLimited: number;
  byStatus: Record<string, number>;
}

export class Executor {
  private readonly limiter: RateLimiter;
  readonly counts: ExecutorCounts = { accepted: 0, rateLimited: 0, byStatus: {} };

  constructor(
    private readonly nc: NatsConnection,
    private readonly link: NatsLink,
    opts: ExecutorOptions,
    private readonly log: Logger,
  ) {
    this.limiter = new RateLimiter({ ratePerSec: opts.ratePerSec, burst: opts.burst });
  }

  /**
   * Runs `body` (the parsed JSON request) for `client` (its address); resolves with the agent's result object as
   * JSON bytes, untouched, or throws the WeftError the client should see.
   */
  async execute(body: unknown, client: string, via: Via): Promise<Uint8Array> {
    this.admit(client);
    const job = await this.jobOf(body, via);
    const data = Buffer.from(JSON.stringify(job));
    // The job travels as one NATS message: code, stdin and event together must fit in it.
    if (data.byteLength > LIMITS.natsMaxPayloadBytes - JOB_ENVELOPE_BYTES) {
      throw new WeftError("PAYLOAD_TOO_LARGE", `body: code, stdin and event together are over ${LIMITS.natsMaxPayloadBytes - JOB_ENVELOPE_BYTES} bytes`, "body");
    }
    this.link.ensureUp();
    this.counts.accepted++;
    let reply;
    try {
      reply = await this.nc.request(executeJobSubject(job.runtime, job.isolation), data, { timeout: job.timeoutMs + EXECUTE_ALLOWANCE_MS });
    } catch (err) {
      throw this.requestFailure(job, err);
    }
    const refused = errorInReply(reply.headers, reply.data, "an agent");
    if (refused) throw refused;
    this.countStatus(reply.data);
    return reply.data;
  }

  private admit(client: string): void {
    try {
      this.limiter.take(client);
    } catch (err) {
      this.counts.rateLimited++;
      throw err;
    }
  }

  private async jobOf(body: unknown, via: Via): Promise<ExecuteJob> {
    const parsed = ExecuteRequest.safeParse(body);
    if (!parsed.success) throw fromZodError(parsed.error);
    const r = parsed.data;
    if (r.mode === "script" && r.event !== undefined) throw new WeftError("INVALID_ARGUMENT", "event: is for mode handler; a script reads stdin", "event");
    if (r.mode === "handler" && r.stdin !== undefined) throw new WeftError("INVALID_ARGUMENT", "stdin: is for mode script; a handler gets event", "stdin");
    const event = r.event === undefined ? "{}" : JSON.stringify(r.event);
    if (r.mode === "handler") checkEvent(Buffer.from(event));
    const runtime = resolveRuntime(r.runtime);
    return {
      invocationId: randomUUID(), runtime: imageRuntimeOf(runtime), isolation: r.isolation, mode: r.mode, code: await runnableCode(runtime, r.code), stdin: r.stdin ?? "", event,
      timeoutMs: r.limits.timeoutMs, ...(r.limits.memoryMb === undefined ? {} : { memoryMb: r.limits.memoryMb }), enqueuedAt: Date.now(), via,
    };
  }

  private requestFailure(job: ExecuteJob, err: unknown): WeftError {
    const noAgent = err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
    if (noAgent) return unavailable(`an agent running ${job.runtime} sandboxes on ${job.isolation}`, err);
    if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
      this.log.warn({ invocationId: job.invocationId }, "no answer from the agent running ad-hoc code");
      return new WeftError("DEADLINE_EXCEEDED", `the run did not answer within ${job.timeoutMs + EXECUTE_ALLOWANCE_MS} ms`);
    }
    return unavailable("the agents (NATS)", err);
  }

  private countStatus(data: Uint8Array): void {
    try {
      const status = (JSON.parse(Buffer.from(data).toString("utf8")) as { status?: string }).status ?? "unknown";
      this.counts.byStatus[status] = (this.counts.byStatus[status] ?? 0) + 1;
    } catch {
      this.counts.byStatus.unknown = (this.counts.byStatus.unknown ?? 0) + 1;
    }
  }
}

/** TypeScript runs as the JavaScript it transpiles to; code that does not parse is refused with its line and column. */
async function runnableCode(runtime: Runtime, code: string): Promise<string> {
  if (languageOf(runtime) !== "typescript") return code;
  const out = await transpileTypeScript(code);
  if (!out.ok) throw new WeftError("INVALID_ARGUMENT", `code: does not parse as typescript: ${describeTranspileError(out)}`, "code");
  return out.code;
}
