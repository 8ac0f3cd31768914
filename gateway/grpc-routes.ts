// The gRPC methods that mirror request/response routes of the HTTP API (agents, versions, the invocation history,
// logs, metrics over time, aliases). The read routes are served by the HTTP route itself: the message's fields
// become its path and query parameters, so the same zod schemas check them and the same errors name the field.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { invalid } from "../shared/errors.js";
import type { Logger } from "../shared/logger.js";
import type { InvocationRecord } from "../shared/schemas/invocation.js";
import type { ControlPlane } from "./control-plane.js";
import { recordToMessage } from "./grpc-mapping.js";
import { argumentsOf, type Route } from "./http-routes.js";

type Fields = Record<string, string | number | undefined | null>;
export type RouteCall = (operationId: string, params: Fields, query?: Fields) => Promise<unknown>;

/**
 * Calls a route of the table as a gRPC method would: only routes that read neither the request nor the response
 * (reads answered from their arguments) are called so, and they are handed neither.
 */
export function routeCaller(routes: Route[]): RouteCall {
  const byId = new Map(routes.map((r) => [r.operationId, r]));
  return async (operationId, params, query = {}) => {
    const r = byId.get(operationId);
    if (!r) throw new Error(`no route ${operationId} to serve a gRPC method`);
    const args = argumentsOf(r, asStrings(params, ""), new URLSearchParams(asStrings(query)));
    const reply = await r.handle({ ...args, req: undefined as unknown as IncomingMessage, res: undefined as unknown as ServerResponse });
    return reply.body;
  };
}

/** A message's fields as the strings a path or query carries; unset ones are left out (or `missing` for paths). */
function asStrings(fields: Fields, missing?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && v !== null) out[k] = String(v);
    else if (missing !== undefined) out[k] = missing;
  }
  return out;
}

type Unary = (log: Logger, fn: (req: Record<string, any>) => Promise<unknown>) => UntypedServiceImplementation[string];

export function surfaceServices(call: RouteCall, plane: ControlPlane, unary: Unary, log: Logger) {
  const agents: UntypedServiceImplementation = {
    ListAgents: unary(log, () => call("listAgents", {})),
    GetAgent: unary(log, (req) => call("getAgent", { id: req.id })),
  };
  const functions: UntypedServiceImplementation = {
    ListVersions: unary(log, (req) => call("listVersions", { name: req.name })),
    DeleteVersion: unary(log, (req) => plane.deleteVersion(req.name, req.version)),
    GetMetricsSeries: unary(log, (req) =>
      req.name === undefined ? call("getFabricMetrics", {}, { windowMs: req.windowMs }) : call("getMetricsSeries", { name: req.name }, { windowMs: req.windowMs }),
    ),
  };
  const invocations: UntypedServiceImplementation = {
    QueryInvocations: unary(log, async (req) => {
      const page = (await call("queryInvocations", {}, { function: req.function, status: req.status, limit: req.limit, before: req.before, since: req.since })) as {
        invocations: InvocationRecord[];
        next?: string;
      };
      return { ...page, invocations: page.invocations.map(recordToMessage) };
    }),
    GetLogs: unary(log, (req) => call("functionLogs", { name: req.name }, { since: req.since, status: req.status, limit: req.limit })),
  };
  const aliases: UntypedServiceImplementation = {
    PutAlias: unary(log, (req) => plane.putAlias(req.name, req.alias, aliasSpecFrom(req.spec))),
    GetAlias: unary(log, (req) => plane.getAlias(req.name, req.alias)),
    ListAliases: unary(log, async (req) => ({ aliases: await plane.listAliases(req.name) })),
    DeleteAlias: unary(log, (req) => plane.deleteAlias(req.name, req.alias)),
  };
  return { agents, functions, invocations, aliases };
}

/** The AliasSpec message as the JSON body of PUT …/aliases/{alias} (the controller checks it with the shared schema). */
function aliasSpecFrom(spec: { version?: number; weights?: Record<string, number> } | undefined | null): Record<string, unknown> {
  if (!spec) throw invalid("spec", "is required");
  const weights = spec.weights && Object.keys(spec.weights).length ? spec.weights : undefined;
  return { version: spec.version ?? 0, ...(weights ? { weights } : {}) };
}
