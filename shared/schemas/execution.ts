// Wire shapes of ad-hoc code execution (POST /v1/execute, gRPC ExecutionService/Execute, NATS weft.execute): the
// request a client sends, the job a gateway hands an agent, and the result every caller gets.
import { z } from "zod";
import { LIMITS } from "../limits.js";
import { FINAL_STATUSES, InvocationError } from "./invocation.js";
import { ISOLATIONS, RUNTIMES } from "./function.js";
import { IMAGE_RUNTIMES, RUNTIME_NAMES, isCompiled } from "../runtimes.js";

export const EXECUTE_MODES = ["script", "handler"] as const;

/** stdin of a script, in UTF-8 bytes. */
export const EXECUTE_STDIN_BYTES = 1024 * 1024;
/** An ad-hoc run is short: its timeout defaults to 10 s and may not exceed a minute. */
export const EXECUTE_TIMEOUT_MS = { min: 100, default: 10_000, max: 60_000 } as const;

const utf8Max = (max: number, what: string) =>
  z.string().refine((s) => s.length <= max && Buffer.byteLength(s) <= max, `${what} may be at most ${max} bytes of UTF-8`);

export const ExecuteLimits = z.strictObject({
  timeoutMs: z.number().int().min(EXECUTE_TIMEOUT_MS.min).max(EXECUTE_TIMEOUT_MS.max).default(EXECUTE_TIMEOUT_MS.default)
    .describe("the program is killed (status timeout) past this"),
  memoryMb: z.number().int().min(LIMITS.memoryMb.min).max(LIMITS.memoryMb.max).optional()
    .describe("the sandbox's memory; unset: the pool's size (WEFT_EXEC_MEMORY_MB); another size costs a container start"),
});

export const ExecuteRequest = z.strictObject({
  runtime: z.enum(RUNTIME_NAMES)
    .refine((r) => !isCompiled(r), "rust is compiled once per version (deploy it as a function); ad-hoc code runs on the interpreted runtimes")
    .describe("an exact runtime or an alias (python3, nodejs: the newest); typescript is transpiled first; not rust"),
  code: z.string().min(1).max(LIMITS.codeBytes).pipe(utf8Max(LIMITS.codeBytes, "code")),
  mode: z.enum(EXECUTE_MODES).default("script")
    .describe("script: the code runs as a program with stdin; handler: handler(event, context) runs as for functions"),
  stdin: utf8Max(EXECUTE_STDIN_BYTES, "stdin").optional().describe("script mode: the program's standard input"),
  event: z.unknown().optional().describe("handler mode: the event (any JSON value); unset: {}"),
  limits: ExecuteLimits.default({ timeoutMs: EXECUTE_TIMEOUT_MS.default }),
  isolation: z.enum(ISOLATIONS).default("runc"),
});
export type ExecuteRequest = z.infer<typeof ExecuteRequest>;

/** What a gateway sends an agent (core NATS request on weft.execute.jobs.{runtime}.{isolation}). */
export const ExecuteJob = z.strictObject({
  invocationId: z.string().max(64),
  /** The image's runtime: the request's, resolved (typescript code arrives here transpiled, for nodejs20). */
  runtime: z.enum(IMAGE_RUNTIMES),
  isolation: z.enum(ISOLATIONS),
  mode: z.enum(EXECUTE_MODES),
  code: z.string(),
  stdin: z.string(),
  /** handler mode: the event's JSON text. */
  event: z.string(),
  timeoutMs: z.number().int(),
  memoryMb: z.number().int().optional(),
  enqueuedAt: z.number(),
  traceId: z.string().max(64).optional(),
  via: z.enum(["http", "grpc", "nats"]),
});
export type ExecuteJob = z.infer<typeof ExecuteJob>;

export const ExecutionResult = z.object({
  invocationId: z.string(),
  status: z.enum(FINAL_STATUSES),
  error: InvocationError.optional(),
  durationMs: z.number(),
  coldStart: z.boolean(),
  stdout: z.string(),
  stderr: z.string(),
  stdoutTruncated: z.boolean().optional(),
  stderrTruncated: z.boolean().optional(),
  exitCode: z.number().int().nullable().describe("the program's exit code; null when it was killed (or in handler mode)"),
  /** handler mode: what the handler returned. */
  output: z.unknown().optional(),
  runtime: z.enum(RUNTIMES),
  isolation: z.enum(ISOLATIONS),
  mode: z.enum(EXECUTE_MODES),
  agent: z.string(),
});
export type ExecutionResult = z.infer<typeof ExecutionResult>;
