// How an invocation ended, as data, and the one place that maps each ending to what happens next:
// the result object, the final record, and ack (done), nak (platform failure: retry later) or term (given up).
import { LIMITS, cutUtf8 } from "../shared/limits.js";
import type { FinalStatus, InvocationError, InvocationErrorCode, InvocationResult, RecordEvent } from "../shared/schemas/invocation.js";
import type { RunOutcome } from "./container.js";
import type { RunnerError } from "./runner-protocol.js";

export type Ending =
  | {
      kind: "final";
      status: FinalStatus;
      /** The output as JSON text (status ok only). */
      outputJson?: string;
      error?: InvocationError;
      logs: string;
      logsTruncated: boolean;
      coldStart: boolean;
      durationMs: number;
    }
  /** The platform, not the function, failed (no container, agent stopping): another attempt may succeed. */
  | { kind: "platform"; message: string; coldStart: boolean };

export type FinalEnding = Extract<Ending, { kind: "final" }>;
export type NextStep = "ack" | "nak" | "term";

const final = (
  status: FinalStatus,
  fields: Partial<FinalEnding> = {},
): FinalEnding => ({
  kind: "final",
  status,
  logs: "",
  logsTruncated: false,
  coldStart: false,
  durationMs: 0,
  ...fields,
});

const errorOf = (code: InvocationErrorCode, e: RunnerError): InvocationError => ({
  code,
  message: e.message,
  ...(e.type ? { type: e.type } : {}),
  ...(e.stack ? { stack: e.stack } : {}),
});

/** An ending decided before any code ran (unknown or deleted function, an event that is not JSON). */
export const refused = (code: InvocationErrorCode, message: string): FinalEnding => final("error", { error: { code, message } });

export function fromInitFailure(
  init: { reason: "error" | "timeout" | "died"; error: RunnerError; logs: string },
  durationMs: number,
): Ending {
  const cut = cutUtf8(init.logs, LIMITS.logBytes);
  return final("error", {
    error: errorOf("INIT_ERROR", { ...init.error, message: `the function's code did not load: ${init.error.message}` }),
    logs: cut.text,
    logsTruncated: cut.truncated,
    coldStart: true,
    durationMs,
  });
}

export function fromRun(run: RunOutcome, coldStart: boolean, durationMs: number, timeoutMs: number): Ending {
  const common = { logs: run.logs, logsTruncated: run.logsTruncated, coldStart, durationMs };
  switch (run.kind) {
    case "ok": {
      const outputJson = JSON.stringify(run.output === undefined ? null : run.output);
      if (Buffer.byteLength(outputJson) > LIMITS.payloadBytes) {
        const message = `the output is ${Buffer.byteLength(outputJson)} bytes; the limit is ${LIMITS.payloadBytes}`;
        return final("error", { ...common, error: { code: "OUTPUT_TOO_LARGE", message } });
      }
      return final("ok", { ...common, outputJson });
    }
    case "error":
      return final("error", { ...common, error: errorOf(run.code, run.error) });
    case "timeout":
      return final("timeout", { ...common, error: { code: "TIMEOUT", message: `the invocation did not finish within ${timeoutMs} ms` } });
    case "killed":
      if (run.platform) return { kind: "platform", message: run.message, coldStart };
      return final("killed", { ...common, error: { code: run.code, message: run.message } });
  }
}

/** A platform failure on the last allowed attempt: reported as killed, never retried again. */
export const givenUp = (e: Extract<Ending, { kind: "platform" }>, attempts: number): FinalEnding =>
  final("killed", {
    coldStart: e.coldStart,
    error: { code: "PLATFORM_ERROR", message: `${e.message} (gave up after ${attempts} attempts)` },
  });

export function nextStep(ending: Ending, deliveryCount: number, maxDeliver: number): NextStep {
  if (ending.kind === "final") return "ack";
  return deliveryCount >= maxDeliver ? "term" : "nak";
}

export interface InvocationMeta {
  invocationId: string;
  functionName: string;
  version: number;
  agent: string;
  enqueuedAt: number;
  startedAt: number;
  traceId: string;
  attempt: number;
}

/** The result object as JSON, with the output spliced in as JSON text (not parsed and serialised again). */
export function resultJson(e: FinalEnding, m: InvocationMeta): string {
  const result: Omit<InvocationResult, "output"> = {
    invocationId: m.invocationId,
    functionName: m.functionName,
    version: m.version,
    status: e.status,
    ...(e.error ? { error: e.error } : {}),
    durationMs: e.durationMs,
    coldStart: e.coldStart,
    logs: e.logs,
    ...(e.logsTruncated ? { logsTruncated: true } : {}),
    agent: m.agent,
  };
  const head = JSON.stringify(result);
  return e.outputJson === undefined ? head : `${head.slice(0, -1)},"output":${e.outputJson}}`;
}

/**
 * The final phase of the record. `eventText` is given for synchronous calls: no queued phase carried their
 * event (the gateway sends one only for async calls), so the final phase keeps it.
 */
export function finalRecord(e: FinalEnding, m: InvocationMeta, finishedAt: number, eventText?: string): RecordEvent {
  const output = e.outputJson === undefined ? undefined : cutUtf8(e.outputJson, LIMITS.recordPayloadBytes);
  const event = eventText === undefined ? undefined : cutUtf8(eventText, LIMITS.recordPayloadBytes);
  return {
    invocationId: m.invocationId,
    functionName: m.functionName,
    phase: "final",
    enqueuedAt: m.enqueuedAt,
    version: m.version,
    traceId: m.traceId,
    agent: m.agent,
    startedAt: m.startedAt,
    coldStart: e.coldStart,
    attempt: m.attempt,
    status: e.status,
    ...(event ? { event: event.text, eventTruncated: event.truncated } : {}),
    ...(output ? { output: output.text, outputTruncated: output.truncated } : {}),
    ...(e.error ? { error: e.error } : {}),
    durationMs: e.durationMs,
    logs: e.logs,
    logsTruncated: e.logsTruncated,
    finishedAt,
  };
}
