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
      /** The output as JSON bytes, exactly as the container wrote them (status ok only). */
      output?: Buffer;
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
    case "ok":
      // runner-protocol.ts has bounded its size and container.ts checked it is JSON within the depth limit.
      return final("ok", { ...common, output: run.output });
    case "error":
      return final("error", { ...common, error: errorOf(run.code, run.error) });
    case "timeout":
      return final("timeout", { ...common, error: { code: "TIMEOUT", message: `the invocation did not finish within ${timeoutMs} ms` } });
    case "killed":
      if (run.platform) return { kind: "platform", message: run.message, coldStart };
      return final("killed", { ...common, error: { code: run.code, message: run.message } });
  }
}

/** An async event older than its function's maximum age: never started (README "Async semantics"). */
export const expired = (ageMs: number, maxAgeMs: number): FinalEnding =>
  final("killed", { error: { code: "EVENT_EXPIRED", message: `the event waited ${ageMs} ms, longer than async.maxEventAgeMs (${maxAgeMs}); it was not started` } });

/** A platform failure on the last allowed attempt: reported as killed, never retried again. */
export const givenUp = (e: Extract<Ending, { kind: "platform" }>, attempts: number): FinalEnding =>
  final("killed", {
    coldStart: e.coldStart,
    error: { code: "PLATFORM_ERROR", message: `${e.message} (gave up after ${attempts} attempts)` },
  });

/** max_deliver ≤ 0 is JetStream's "unlimited". */
export const isLastDelivery = (deliveryCount: number, maxDeliver: number): boolean => maxDeliver > 0 && deliveryCount >= maxDeliver;

export function nextStep(ending: Ending, deliveryCount: number, maxDeliver: number): NextStep {
  if (ending.kind === "final") return "ack";
  return isLastDelivery(deliveryCount, maxDeliver) ? "term" : "nak";
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

const OUTPUT_FIELD = Buffer.from(',"output":');
const CLOSE = Buffer.from("}");

/** The result object as JSON bytes, with the output's bytes spliced in (not parsed and serialised again). */
export function resultJson(e: FinalEnding, m: InvocationMeta): Buffer {
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
  if (e.output === undefined) return Buffer.from(head);
  return Buffer.concat([Buffer.from(head.slice(0, -1)), OUTPUT_FIELD, e.output, CLOSE]);
}

/** The first `maxBytes` of UTF-8 bytes as text, without a split character at the cut. */
function cutBytes(b: Uint8Array, maxBytes: number): { text: string; truncated: boolean } {
  if (b.length <= maxBytes) return { text: Buffer.from(b.buffer, b.byteOffset, b.length).toString("utf8"), truncated: false };
  return { text: Buffer.from(b.buffer, b.byteOffset, maxBytes).toString("utf8").replace(/\uFFFD$/, ""), truncated: true };
}

/**
 * The final phase of the record. `event` is given for synchronous calls: no queued phase carried their
 * event (the gateway sends one only for async calls), so the final phase keeps it.
 */
export function finalRecord(e: FinalEnding, m: InvocationMeta, finishedAt: number, event?: Uint8Array): RecordEvent {
  const output = e.output === undefined ? undefined : cutBytes(e.output, LIMITS.recordPayloadBytes);
  const eventText = event === undefined ? undefined : cutBytes(event, LIMITS.recordPayloadBytes);
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
    ...(eventText ? { event: eventText.text, eventTruncated: eventText.truncated } : {}),
    ...(output ? { output: output.text, outputTruncated: output.truncated } : {}),
    ...(e.error ? { error: e.error } : {}),
    durationMs: e.durationMs,
    logs: e.logs,
    logsTruncated: e.logsTruncated,
    finishedAt,
  };
}
