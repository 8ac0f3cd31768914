// What happens to an async invocation once an attempt has ended (README "Async semantics"), as plain logic:
// retry it later (handler error, timeout, kill, with retries left), dead-letter it (failed for good, or expired),
// or let it be. Platform failures never reach here while JetStream still redelivers them (outcome.ts), so they
// never count against the user's retries.
import { DEFAULT_ASYNC, type AsyncConfig, type FunctionDefinition } from "../shared/schemas/function.js";
import type { InvocationErrorCode } from "../shared/schemas/invocation.js";
import type { FinalEnding } from "./outcome.js";

/** The first retry waits 1 s, each next one twice as long, times 1 + up to 50 % jitter. */
export const RETRY_BASE_MS = 1000;
const JITTER = 0.5;

/** Outcomes that another attempt could not change: not retried. */
const NOT_RETRIED: ReadonlySet<InvocationErrorCode> = new Set(["FUNCTION_DELETED", "INVALID_EVENT", "EVENT_EXPIRED", "CHAIN_TOO_DEEP", "PLATFORM_ERROR"]);
/** Outcomes that are not dead-lettered: the function is gone, or the event could never run (not JSON). */
const NOT_DEAD_LETTERED: ReadonlySet<InvocationErrorCode> = new Set(["FUNCTION_DELETED", "INVALID_EVENT"]);

export type AsyncStep =
  | { kind: "retry"; dueAt: number }
  | { kind: "dead"; reason: "failed" | "expired" }
  | { kind: "done" };

export function asyncConfigOf(def: Pick<FunctionDefinition, "async"> | undefined): AsyncConfig {
  return def?.async ?? DEFAULT_ASYNC;
}

/** Delay before retry number `retry` (1 for the first), with jitter drawn from `random` in [0, 1). */
export function retryDelayMs(retry: number, random: number = Math.random()): number {
  const base = RETRY_BASE_MS * 2 ** (retry - 1);
  return Math.round(base * (1 + JITTER * random));
}

/** An async event older than the function allows is not started. */
export function isExpired(enqueuedAt: number, cfg: AsyncConfig, now: number): boolean {
  return now - enqueuedAt > cfg.maxEventAgeMs;
}

/** After try `retry` (0 for the first, n for the nth retry) of an async invocation ended with `final`. */
export function afterAttempt(final: Pick<FinalEnding, "status" | "error">, retry: number, cfg: AsyncConfig, now: number, random?: number): AsyncStep {
  if (final.status === "ok") return { kind: "done" };
  const code = final.error?.code;
  if (code && NOT_DEAD_LETTERED.has(code)) return { kind: "done" };
  if (code === "EVENT_EXPIRED") return { kind: "dead", reason: "expired" };
  if ((code && NOT_RETRIED.has(code)) || retry >= cfg.maxRetries) return { kind: "dead", reason: "failed" };
  return { kind: "retry", dueAt: now + retryDelayMs(retry + 1, random) };
}
