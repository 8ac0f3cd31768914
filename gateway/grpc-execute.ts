// Between weft.v1 ExecuteRequest / ExecutionResult messages and the shared execute shapes (the JSON of POST /v1/execute).
import { fromProtoValue, toProtoValue, type ProtoValue } from "./json-value.js";

export interface ExecuteRequestMsg {
  runtime?: string;
  code?: string;
  mode?: string;
  stdin?: string;
  event?: ProtoValue | null;
  limits?: { timeoutMs?: number; memoryMb?: number } | null;
  isolation?: string;
}

const defined = <T extends object>(obj: T): Partial<T> =>
  Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;

/** The message as the JSON body the HTTP API takes (the shared schema then validates it and applies defaults). */
export function executeFromMessage(req: ExecuteRequestMsg): Record<string, unknown> {
  return defined({
    runtime: req.runtime || undefined,
    code: req.code || undefined,
    mode: req.mode || undefined,
    stdin: req.stdin,
    event: req.event === undefined || req.event === null ? undefined : fromProtoValue(req.event, "event"),
    limits: req.limits ? defined({ timeoutMs: req.limits.timeoutMs, memoryMb: req.limits.memoryMb }) : undefined,
    isolation: req.isolation || undefined,
  });
}

/** The agent's result as the message: the output becomes a Value, a null exit code is left unset. */
export function executionToMessage(result: Record<string, unknown>): Record<string, unknown> {
  const { output, exitCode, ...rest } = result;
  return {
    ...rest,
    ...(exitCode === null || exitCode === undefined ? {} : { exitCode }),
    ...("output" in result ? { output: toProtoValue(output, "output") } : {}),
  };
}
