// One table of error codes: each maps to the HTTP status and the gRPC status a client sees.
// Codes are a stable contract; clients branch on them, so never rename one.
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { ZodError } from "zod";

export const ERROR_CODES = {
  INVALID_ARGUMENT: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, doc: "a field of the request is invalid; `field` names it" },
  NOT_FOUND: { http: 404, grpc: GrpcStatus.NOT_FOUND, doc: "no such function, version or invocation" },
  METHOD_NOT_ALLOWED: { http: 405, grpc: GrpcStatus.UNIMPLEMENTED, doc: "the HTTP method is not served on this path" },
  CONFLICT: { http: 409, grpc: GrpcStatus.ABORTED, doc: "the function changed concurrently; retry" },
  IDEMPOTENCY_MISMATCH: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION, doc: "the idempotency key was used within 24 h for the same function with a different event" },
  PAYLOAD_TOO_LARGE: { http: 413, grpc: GrpcStatus.RESOURCE_EXHAUSTED, doc: "the body, event or code is over its documented limit" },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, grpc: GrpcStatus.INVALID_ARGUMENT, doc: "the body is not JSON" },
  RESOURCE_EXHAUSTED: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, doc: "too many requests in flight" },
  UNAVAILABLE: { http: 503, grpc: GrpcStatus.UNAVAILABLE, doc: "a service the call needs (NATS, the controller, MongoDB, agents) is down" },
  BUILD_PENDING: { http: 503, grpc: GrpcStatus.UNAVAILABLE, doc: "the version's dependencies are still being built; retry after Retry-After seconds" },
  BUILD_FAILED: { http: 422, grpc: GrpcStatus.FAILED_PRECONDITION, doc: "the version's build failed; the message ends with its log's tail (GET /v1/functions/{name}/versions/{v}/build has all of it)" },
  DEADLINE_EXCEEDED: { http: 504, grpc: GrpcStatus.DEADLINE_EXCEEDED, doc: "the call did not finish within its wait" },
  INTERNAL: { http: 500, grpc: GrpcStatus.INTERNAL, doc: "a bug in Weft; the message says where" },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The wire form of an error, the same over HTTP (`{"error": ...}`), gRPC (details) and NATS. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field?: string;
  /** Set on a 503 for an invocation that may have been accepted all the same: look it up before retrying. */
  invocationId?: string;
}

export class WeftError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  invocationId: string | undefined;

  constructor(code: ErrorCode, message: string, field?: string, options?: { cause?: unknown; invocationId?: string }) {
    super(message, options);
    this.name = "WeftError";
    this.code = code;
    this.field = field;
    this.invocationId = options?.invocationId;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get grpcStatus(): GrpcStatus {
    return ERROR_CODES[this.code].grpc;
  }

  toBody(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.invocationId === undefined ? {} : { invocationId: this.invocationId }),
    };
  }

  static fromBody(body: ErrorBody): WeftError {
    const code = body.code in ERROR_CODES ? body.code : "INTERNAL";
    return new WeftError(code, body.message, body.field);
  }
}

export const invalid = (field: string, message: string): WeftError =>
  new WeftError("INVALID_ARGUMENT", `${field}: ${message}`, field);

export const notFound = (what: string): WeftError => new WeftError("NOT_FOUND", `${what} not found`);

export const unavailable = (what: string, cause?: unknown): WeftError =>
  new WeftError("UNAVAILABLE", `${what} is unavailable`, undefined, { cause });

/**
 * Makes an error without capturing a stack: for refusals that are expected outcomes under load, never bugs, whose
 * stack nobody reads. Capturing one was 6 % of an overloaded gateway's CPU (perf, 5,800 calls/s offered, most of
 * them answered 429).
 */
export function withoutStack<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Turns the first zod issue into an INVALID_ARGUMENT naming the field by its dotted path. An unknown key
 * (`limits.disk`) or a bad record key (an env var name) is named itself, not its parent object.
 */
export function fromZodError(err: ZodError, prefix = ""): WeftError {
  const issue = err.issues[0];
  if (!issue) return new WeftError("INVALID_ARGUMENT", "invalid request");
  const named = (segments: PropertyKey[]) => [prefix, ...segments.map(String)].filter(Boolean).join(".");
  if (issue.code === "unrecognized_keys") return invalid(named([...issue.path, issue.keys[0] ?? ""]), "is not a known field");
  if (issue.code === "invalid_key") return invalid(named(issue.path), issue.issues[0]?.message ?? issue.message);
  const path = named(issue.path);
  const field = path || "body";
  const tooBig = issue.code === "too_big" && (field === "code" || field.endsWith(".code"));
  return new WeftError(tooBig ? "PAYLOAD_TOO_LARGE" : "INVALID_ARGUMENT", `${field}: ${issue.message}`, field);
}

/** Anything thrown becomes a WeftError; unknown failures are INTERNAL and keep their cause. */
export function asWeftError(err: unknown): WeftError {
  if (err instanceof WeftError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WeftError("INTERNAL", message, undefined, { cause: err });
}
