// Between weft.v1 messages (as @grpc/proto-loader decodes them: lowerCamelCase, unset fields undefined) and
// the shared wire shapes. Most shapes pass through as they are; only JSON values (events, outputs) change form.
import { invalid } from "../shared/errors.js";
import type { InvocationRecord } from "../shared/schemas/invocation.js";
import { fromProtoValue, toProtoValue, type ProtoValue } from "./json-value.js";

export interface LimitsMsg {
  timeoutMs?: number;
  memoryMb?: number;
  cpus?: number;
}

export interface FunctionSpecMsg {
  name?: string;
  runtime?: string;
  code?: string;
  limits?: LimitsMsg;
  isolation?: string;
  env?: Record<string, string>;
  concurrency?: number;
  minWarm?: number;
  description?: string;
  async?: AsyncConfigMsg;
  files?: Record<string, BundleFileMsg>;
  handler?: string;
}

export interface BundleFileMsg {
  text?: string;
  data?: Buffer;
}

/** Bundle files between the message (text or bytes) and the JSON shape (a string, or {base64}). */
function filesFromMessage(files: Record<string, BundleFileMsg> | undefined): Record<string, unknown> | undefined {
  if (!files || Object.keys(files).length === 0) return undefined;
  return Object.fromEntries(Object.entries(files).map(([path, f]) => [path, f.data !== undefined && f.data !== null ? { base64: Buffer.from(f.data).toString("base64") } : (f.text ?? "")]));
}

/** A Function (a definition with a bundle) as the message. */
export function functionToMessage<T extends { files?: Record<string, string | { base64: string }> | undefined }>(def: T): Record<string, unknown> {
  if (!def.files) return def;
  const files = Object.fromEntries(Object.entries(def.files).map(([path, f]) => [path, typeof f === "string" ? { text: f } : { data: Buffer.from(f.base64, "base64") }]));
  return { ...def, files };
}

export interface DestinationMsg {
  subject?: string;
  function?: string;
}

export interface AsyncConfigMsg {
  maxRetries?: number;
  maxEventAgeMs?: number;
  onSuccess?: DestinationMsg | null;
  onFailure?: DestinationMsg | null;
}

/** A Destination message as JSON: the one target set (proto-loader's oneof marker left out). */
function destinationFrom(d: DestinationMsg | null | undefined): Record<string, unknown> | undefined {
  return d ? defined({ subject: d.subject, function: d.function }) : undefined;
}

function asyncFrom(a: AsyncConfigMsg | undefined): Record<string, unknown> | undefined {
  return a ? defined({ maxRetries: a.maxRetries, maxEventAgeMs: a.maxEventAgeMs, onSuccess: destinationFrom(a.onSuccess), onFailure: destinationFrom(a.onFailure) }) : undefined;
}

export interface InvokeRequestMsg {
  name?: string;
  event?: ProtoValue | null;
  version?: number;
  alias?: string;
  idempotencyKey?: string;
}

/** Drops unset fields, so the shared schema sees exactly what the client sent (and applies its defaults). */
function defined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}

/** A FunctionSpec message as the JSON body the HTTP API takes. */
export function specFromMessage(spec: FunctionSpecMsg | undefined | null): Record<string, unknown> {
  if (!spec) throw invalid("spec", "is required");
  const env = spec.env && Object.keys(spec.env).length ? spec.env : undefined;
  return defined({
    name: spec.name,
    runtime: spec.runtime || undefined,
    code: spec.code || undefined,
    limits: spec.limits ? defined({ timeoutMs: spec.limits.timeoutMs, memoryMb: spec.limits.memoryMb, cpus: spec.limits.cpus }) : undefined,
    isolation: spec.isolation,
    env,
    concurrency: spec.concurrency,
    minWarm: spec.minWarm,
    description: spec.description,
    async: asyncFrom(spec.async),
    files: filesFromMessage(spec.files),
    handler: spec.handler || undefined,
  });
}

/** The event of an InvokeRequest as JSON bytes; an unset event is {}. */
export function eventFromMessage(req: InvokeRequestMsg): Uint8Array {
  if (req.event === undefined || req.event === null) return Buffer.from("{}");
  // The invoker checks the size of this JSON text against the payload limit, as for HTTP and NATS.
  return Buffer.from(JSON.stringify(fromProtoValue(req.event, "event")));
}

/** An InvocationResult (the agent's JSON) as the message: the output becomes a Value. */
export function resultToMessage(result: Record<string, unknown>): Record<string, unknown> {
  const { output, ...rest } = result;
  return "output" in result ? { ...rest, output: toProtoValue(output, "output") } : rest;
}

export function recordToMessage(record: InvocationRecord): Record<string, unknown> {
  const { event, output, ...rest } = record;
  return {
    ...rest,
    ...(event !== undefined ? { event: toProtoValue(event, "event") } : {}),
    ...(output !== undefined ? { output: toProtoValue(output, "output") } : {}),
  };
}
