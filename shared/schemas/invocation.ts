// Wire shapes of an invocation: its outcome (the result object every caller gets) and its record.
import { z } from "zod";

/** Final outcomes, as data (never exceptions): see README "Invocation outcomes". */
export const FINAL_STATUSES = ["ok", "error", "timeout", "killed"] as const;
export const STATUSES = ["queued", "running", ...FINAL_STATUSES] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];
export type InvocationStatus = (typeof STATUSES)[number];

/**
 * Stable codes inside a failed invocation's `error`. HANDLER_ERROR: the handler threw.
 * INIT_ERROR: the code did not load (syntax error, missing handler). The rest are platform outcomes.
 */
export const INVOCATION_ERROR_CODES = [
  "HANDLER_ERROR",
  "INIT_ERROR",
  "TIMEOUT",
  "KILLED",
  "OUT_OF_MEMORY",
  "OUTPUT_NOT_JSON",
  "OUTPUT_TOO_LARGE",
  "OUTPUT_TOO_DEEP",
  /** The container wrote something the runner protocol does not allow (a malformed or forged frame). */
  "RUNTIME_PROTOCOL_ERROR",
  "FUNCTION_DELETED",
  "PLATFORM_ERROR",
  /** A job published straight to weft.jobs.{name} whose data is not JSON (the gateway refuses those itself). */
  "INVALID_EVENT",
  /** An async event older than its function's async.maxEventAgeMs: it was not started (and was dead-lettered). */
  "EVENT_EXPIRED",
  /** A destination would have invoked a function deeper than LIMITS.chainDepth in a chain: refused, dead-lettered. */
  "CHAIN_TOO_DEEP",
  /** Ad-hoc code in script mode (POST /v1/execute) exited with a code other than 0. */
  "NONZERO_EXIT",
] as const;
export type InvocationErrorCode = (typeof INVOCATION_ERROR_CODES)[number];

/** What ran: a deployed function, or ad-hoc code (POST /v1/execute). */
export const INVOCATION_KINDS = ["function", "execute"] as const;

export const InvocationError = z.object({
  code: z.enum(INVOCATION_ERROR_CODES),
  message: z.string(),
  /** The exception's class, when the handler threw (e.g. ValueError, TypeError). */
  type: z.string().optional(),
  stack: z.string().optional(),
});
export type InvocationError = z.infer<typeof InvocationError>;

/** The result object: the HTTP and gRPC invoke response, and the reply to a NATS request. */
export const InvocationResult = z.object({
  invocationId: z.string(),
  functionName: z.string(),
  version: z.number().int(),
  status: z.enum(FINAL_STATUSES),
  output: z.unknown().optional(),
  error: InvocationError.optional(),
  durationMs: z.number(),
  coldStart: z.boolean(),
  logs: z.string(),
  logsTruncated: z.boolean().optional(),
  agent: z.string(),
});
export type InvocationResult = z.infer<typeof InvocationResult>;

/** One attempt of an invocation: when it ran, on which agent, and how it ended ("platform": handed back). */
export const Attempt = z.object({
  /** The attempt's number as the handler saw it (context.attempt): every attempt counts, of either kind. */
  attempt: z.number().int().min(1),
  /** 0 for the first try, n for the nth retry after a handler failure (what async.maxRetries bounds). */
  retry: z.number().int().min(0).max(2),
  /** JetStream's delivery of that try's job: above 1 after platform failures (agent lost, no container). */
  delivery: z.number().int().min(1),
  agent: z.string().max(256),
  startedAt: z.number(),
  finishedAt: z.number(),
  status: z.enum(FINAL_STATUSES),
  errorCode: z.enum(INVOCATION_ERROR_CODES).optional(),
});
export type Attempt = z.infer<typeof Attempt>;
/** Bounded: at most 3 user attempts, each kept once. */
export const AttemptList = z.array(Attempt).max(8);

/**
 * A step in an invocation's life, published on the records stream. Each phase sets disjoint fields,
 * so the controller can apply them in any order and any number of times (JetStream is at-least-once).
 */
export const RecordEvent = z.object({
  invocationId: z.string(),
  functionName: z.string(),
  /** Unset for a function's invocation; "execute" for ad-hoc code (POST /v1/execute), found by id only. */
  kind: z.enum(INVOCATION_KINDS).optional(),
  phase: z.enum(["queued", "running", "final"]),
  enqueuedAt: z.number(),
  version: z.number().int().optional(),
  /** The function's incarnation (shared/schemas/function.ts): reads show only the live incarnation's records. */
  incarnation: z.string().max(64).optional(),
  async: z.boolean().optional(),
  traceId: z.string().optional(),
  /** queued: the event, JSON text cut at LIMITS.recordPayloadBytes. */
  event: z.string().optional(),
  eventTruncated: z.boolean().optional(),
  /** running and final */
  agent: z.string().optional(),
  startedAt: z.number().optional(),
  coldStart: z.boolean().optional(),
  attempt: z.number().int().optional(),
  /** final */
  status: z.enum(FINAL_STATUSES).optional(),
  output: z.string().optional(),
  outputTruncated: z.boolean().optional(),
  error: InvocationError.optional(),
  durationMs: z.number().optional(),
  logs: z.string().optional(),
  logsTruncated: z.boolean().optional(),
  finishedAt: z.number().optional(),
  /** final: every attempt, the last one included (README "Async semantics"). */
  attempts: AttemptList.optional(),
});
export type RecordEvent = z.infer<typeof RecordEvent>;

/**
 * The schemas below describe what the API answers (the OpenAPI document is generated from them, and tests validate
 * real responses against it); each has the interface of the same name beside it, checked equal by a type test.
 */
const isoTime = z.string().describe("ISO 8601 time");

/** An invocation record as the API returns it (GET /v1/invocations/{id}). */
export const InvocationRecord = z.object({
  invocationId: z.string(),
  functionName: z.string(),
  kind: z.enum(INVOCATION_KINDS).optional().describe("execute: ad-hoc code (POST /v1/execute); unset: a function"),
  version: z.number().int().optional(),
  status: z.enum(STATUSES),
  async: z.boolean().optional(),
  traceId: z.string().optional(),
  event: z.unknown().optional().describe("the event; its JSON text, when eventTruncated"),
  eventTruncated: z.boolean().optional(),
  output: z.unknown().optional().describe("the output; its JSON text, when outputTruncated"),
  outputTruncated: z.boolean().optional(),
  error: InvocationError.optional(),
  durationMs: z.number().optional(),
  coldStart: z.boolean().optional(),
  agent: z.string().optional(),
  attempt: z.number().int().optional(),
  attempts: z
    .array(Attempt.omit({ startedAt: true, finishedAt: true }).extend({ startedAt: isoTime, finishedAt: isoTime }))
    .optional()
    .describe("every attempt: its number, delivery, agent, times and outcome"),
  logs: z.string().optional(),
  logsTruncated: z.boolean().optional(),
  enqueuedAt: isoTime,
  startedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
});

/** One attempt as the API returns it (ISO times). */
export interface ApiAttempt {
  attempt: number;
  retry: number;
  delivery: number;
  agent: string;
  startedAt: string;
  finishedAt: string;
  status: FinalStatus;
  errorCode?: InvocationErrorCode;
}

/** An invocation record as the API returns it (GET /v1/invocations/{id}). */
export interface InvocationRecord {
  invocationId: string;
  functionName: string;
  kind?: (typeof INVOCATION_KINDS)[number];
  version?: number;
  status: InvocationStatus;
  async?: boolean;
  traceId?: string;
  event?: unknown;
  eventTruncated?: boolean;
  output?: unknown;
  outputTruncated?: boolean;
  error?: InvocationError;
  durationMs?: number;
  coldStart?: boolean;
  agent?: string;
  attempt?: number;
  attempts?: ApiAttempt[];
  logs?: string;
  logsTruncated?: boolean;
  enqueuedAt: string;
  startedAt?: string;
  finishedAt?: string;
}

const percentile = z.number().nullable();
export const FunctionMetrics = z.object({
  functionName: z.string(),
  windowMs: z.number().int(),
  count: z.number().int(),
  ok: z.number().int(),
  errors: z.number().int(),
  timeouts: z.number().int(),
  killed: z.number().int(),
  coldStarts: z.number().int(),
  durationMs: z.object({ p50: percentile, p95: percentile, p99: percentile, mean: percentile, max: percentile }),
});

export interface FunctionMetrics {
  functionName: string;
  windowMs: number;
  count: number;
  ok: number;
  errors: number;
  timeouts: number;
  killed: number;
  coldStarts: number;
  durationMs: { p50: number | null; p95: number | null; p99: number | null; mean: number | null; max: number | null };
}

/** The answer to an asynchronous invocation (202), and to a sync one that outlived its wait. */
export const InvocationAccepted = z.object({ invocationId: z.string(), status: z.enum(["queued", "running"]) });

/** The answer to an asynchronous invocation (202), and to a sync one that outlived its wait. */
export interface InvocationAccepted {
  invocationId: string;
  status: "queued" | "running";
}
