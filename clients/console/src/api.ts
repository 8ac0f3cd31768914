// The console's client of the public HTTP API: one function per route, errors as ApiError carrying the
// API's code, message and field. Types come from the shared wire schemas (type-only: no server code ships).
import type { AgentList } from "../../../shared/schemas/agent.js";
import type { FunctionDefinition, FunctionSpecInput, FunctionSummary } from "../../../shared/schemas/function.js";
import type { FunctionVersions } from "../../../shared/schemas/function-versions.js";
import type { InvocationAccepted, InvocationRecord, InvocationResult, InvocationStatus } from "../../../shared/schemas/invocation.js";
import type { InvocationPage } from "../../../shared/schemas/invocation-list.js";
import type { MetricsSeries } from "../../../shared/schemas/metrics-series.js";
import type { ExecuteRequest, ExecutionResult } from "../../../shared/schemas/execution.js";
import type { Alias } from "../../../shared/schemas/alias.js";

type ExecuteRequestInput = Pick<ExecuteRequest, "runtime" | "code" | "isolation" | "mode"> & { stdin?: string };
import { fabric } from "./fabric-status.js";

export type { AgentList, FunctionDefinition, FunctionSpecInput, FunctionSummary, FunctionVersions, InvocationPage };
export type { InvocationAccepted, InvocationRecord, InvocationResult, InvocationStatus, MetricsSeries, ExecutionResult };
export type { AgentView, PoolStatus } from "../../../shared/schemas/agent.js";
export type { InvocationChange } from "../../../shared/schemas/invocation-list.js";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The gateway did not answer at all (down, restarting, network gone). */
export const UNREACHABLE = "UNREACHABLE";

interface CallOptions {
  body?: string;
  signal?: AbortSignal;
}

async function call<T>(method: string, path: string, opts: CallOptions = {}): Promise<{ status: number; body: T }> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      signal: opts.signal,
      headers: opts.body === undefined ? {} : { "content-type": "application/json" },
      body: opts.body,
    });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    fabric.unreachable();
    throw new ApiError(UNREACHABLE, "the gateway did not answer", 0);
  }
  const text = await res.text();
  const parsed = parse(text);
  if (res.ok) return { status: res.status, body: parsed as T };
  const e = (parsed as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
  if (res.status === 503) fabric.degraded();
  throw new ApiError(e?.code ?? `HTTP_${res.status}`, e?.message ?? (text.slice(0, 200) || res.statusText), res.status, e?.field);
}

function parse(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const get = async <T>(path: string, signal?: AbortSignal): Promise<T> => (await call<T>("GET", path, { signal })).body;
const fn = (name: string) => `/v1/functions/${encodeURIComponent(name)}`;

function qs(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export interface HistoryQuery {
  function?: string;
  status?: InvocationStatus;
  limit?: number;
  before?: string;
  since?: string;
}

export type InvokeAnswer = { kind: "result"; result: InvocationResult } | { kind: "accepted"; accepted: InvocationAccepted };

export const api = {
  listFunctions: (signal?: AbortSignal) => get<{ functions: FunctionSummary[] }>("/v1/functions", signal),
  getFunction: (name: string, version?: number, signal?: AbortSignal) => get<FunctionDefinition>(`${fn(name)}${qs({ version })}`, signal),
  putFunction: async (name: string, spec: FunctionSpecInput) =>
    (await call<FunctionSummary & { created: boolean }>("PUT", fn(name), { body: JSON.stringify(spec) })).body,
  deleteFunction: async (name: string) => (await call<{ name: string; deleted: true }>("DELETE", fn(name))).body,
  versions: (name: string, signal?: AbortSignal) => get<FunctionVersions>(`${fn(name)}/versions`, signal),
  aliases: (name: string, signal?: AbortSignal) => get<{ aliases: Alias[] }>(`${fn(name)}/aliases`, signal),
  invoke: async (name: string, eventJson: string, opts: { async: boolean; version?: number; alias?: string }): Promise<InvokeAnswer> => {
    const path = `${fn(name)}/invoke${qs({ async: opts.async || undefined, version: opts.version, alias: opts.alias })}`;
    const { status, body } = await call<InvocationResult | InvocationAccepted>("POST", path, { body: eventJson });
    return status === 202 ? { kind: "accepted", accepted: body as InvocationAccepted } : { kind: "result", result: body as InvocationResult };
  },
  invocation: (id: string, signal?: AbortSignal) => get<InvocationRecord>(`/v1/invocations/${encodeURIComponent(id)}`, signal),
  history: (q: HistoryQuery, signal?: AbortSignal) => get<InvocationPage>(`/v1/invocations${qs({ ...q })}`, signal),
  fabricMetrics: (windowMs: number, signal?: AbortSignal) => get<MetricsSeries>(`/v1/metrics${qs({ windowMs })}`, signal),
  functionMetrics: (name: string, windowMs: number, signal?: AbortSignal) =>
    get<MetricsSeries>(`${fn(name)}/metrics/series${qs({ windowMs })}`, signal),
  agents: (signal?: AbortSignal) => get<AgentList>("/v1/agents", signal),
  execute: async (body: ExecuteRequestInput) => (await call<ExecutionResult>("POST", "/v1/execute", { body: JSON.stringify(body) })).body,
  /** The live stream's URL (EventSource). */
  followUrl: (q: { function?: string; status?: string }) => `/v1/invocations/live${qs({ function: q.function, status: q.status })}`,
};
