// The gRPC contract (proto/weft/v1/weft.proto) and the shared wire schemas list the same fields, so HTTP, gRPC
// and NATS clients see one shape. A field added to one side and not the other fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import type { z } from "zod";
import { PROTO_FILE } from "../../gateway/proto.js";
import { AsyncConfig, Build, FunctionDefinition, FunctionSpec, Limits, type FunctionSummary } from "../../shared/schemas/function.js";
import {
  Attempt,
  InvocationError,
  InvocationResult,
  type FunctionMetrics,
  type InvocationAccepted,
  type InvocationRecord,
} from "../../shared/schemas/invocation.js";
import {
  DeleteFunctionRequest,
  GetFunctionRequest,
  GetInvocationRequest,
  ListInvocationsRequest,
  MetricsRequest,
  PutFunctionRequest,
} from "../../shared/schemas/controller-api.js";
import { ExecuteLimits, ExecuteRequest, ExecutionResult } from "../../shared/schemas/execution.js";
import { LogLine, LogPage, LogsQuery } from "../../shared/schemas/function-logs.js";
import { FunctionVersions } from "../../shared/schemas/function-versions.js";
import { Alias, AliasSpec, DeleteAliasResult, DeleteVersionResult } from "../../shared/schemas/alias.js";
import { AgentIdParams, AgentView, PoolStatus } from "../../shared/schemas/agent.js";
import { FunctionActivity, MetricsBucket, MetricsSeries, MetricsTotals } from "../../shared/schemas/metrics-series.js";
import { InvocationListQuery, InvocationPage } from "../../shared/schemas/invocation-list.js";
import { DeadLetterPage, DeadLetterView, ListDeadLettersQuery, PurgeResult, RedriveRequest, RedriveResult } from "../../shared/schemas/dead-letter.js";
import { TriggerMessage } from "../../shared/trigger-message.js";
import { ScheduleTriggerSpec, StreamTriggerSpec, SubjectTriggerSpec, Trigger, TriggerCounters } from "../../shared/schemas/trigger.js";

// Shapes that are TypeScript interfaces rather than zod schemas: listing their keys here is checked by the
// compiler (`satisfies` refuses a missing or an extra key), so these lists cannot drift from the types.
const summaryKeys = {
  name: true, version: true, runtime: true, limits: true, isolation: true, env: true, concurrency: true, minWarm: true,
  description: true, codeSha256: true, createdAt: true, codeBytes: true, incarnation: true, async: true, handler: true, build: true, fileCount: true,
} satisfies Record<keyof FunctionSummary, true>;
const recordKeys = {
  invocationId: true, functionName: true, version: true, status: true, async: true, traceId: true, event: true,
  eventTruncated: true, output: true, outputTruncated: true, error: true, durationMs: true, coldStart: true, agent: true,
  attempt: true, logs: true, logsTruncated: true, enqueuedAt: true, startedAt: true, finishedAt: true, kind: true, attempts: true,
} satisfies Record<keyof InvocationRecord, true>;
const metricsKeys = {
  functionName: true, windowMs: true, count: true, ok: true, errors: true, timeouts: true, killed: true, coldStarts: true, durationMs: true,
} satisfies Record<keyof FunctionMetrics, true>;
const durationKeys = { p50: true, p95: true, p99: true, mean: true, max: true } satisfies Record<keyof FunctionMetrics["durationMs"], true>;
const acceptedKeys = { invocationId: true, status: true } satisfies Record<keyof InvocationAccepted, true>;

const root = new protobuf.Root().loadSync(PROTO_FILE); // camelCase field names, as in JSON
const message = (name: string) => root.lookupType(`weft.v1.${name}`);
const protoFields = (name: string) => Object.keys(message(name).fields).sort();
const sorted = (keys: Iterable<string>) => [...keys].sort();
const zodKeys = (schema: z.ZodObject) => sorted(Object.keys(schema.shape));

const pairs: Array<[string, string[]]> = [
  ["FunctionSpec", zodKeys(FunctionSpec)],
  ["Limits", zodKeys(Limits)],
  ["AsyncConfig", zodKeys(AsyncConfig)],
  ["Destination", ["function", "subject"]],
  ["Attempt", zodKeys(Attempt)],
  ["Function", zodKeys(FunctionDefinition)],
  ["FunctionSummary", sorted(Object.keys(summaryKeys))],
  ["InvocationResult", zodKeys(InvocationResult)],
  ["InvocationError", zodKeys(InvocationError)],
  ["InvocationRecord", sorted(Object.keys(recordKeys))],
  ["InvocationAccepted", sorted(Object.keys(acceptedKeys))],
  ["FunctionMetrics", sorted(Object.keys(metricsKeys))],
  ["DurationStats", sorted(Object.keys(durationKeys))],
  ["PutFunctionRequest", zodKeys(PutFunctionRequest)],
  ["GetFunctionRequest", zodKeys(GetFunctionRequest)],
  ["DeleteFunctionRequest", zodKeys(DeleteFunctionRequest)],
  ["GetMetricsRequest", zodKeys(MetricsRequest)],
  ["GetInvocationRequest", zodKeys(GetInvocationRequest)],
  ["ListInvocationsRequest", zodKeys(ListInvocationsRequest)],
  ["ExecuteRequest", zodKeys(ExecuteRequest)],
  ["ExecuteLimits", zodKeys(ExecuteLimits)],
  ["ExecutionResult", zodKeys(ExecutionResult)],
  // The gRPC versions of the newer routes (grpc-routes.ts): answers, and requests as their query strings.
  ["LogLine", zodKeys(LogLine)],
  ["LogPage", zodKeys(LogPage)],
  ["GetLogsRequest", sorted(["name", ...Object.keys(LogsQuery.shape).filter((k) => k !== "follow")])],
  ["FollowLogsRequest", ["name", "status"]],
  ["QueryInvocationsRequest", zodKeys(InvocationListQuery)],
  ["InvocationPage", zodKeys(InvocationPage)],
  ["FunctionVersions", zodKeys(FunctionVersions)],
  ["DeleteVersionResponse", zodKeys(DeleteVersionResult)],
  ["AliasSpec", zodKeys(AliasSpec as unknown as z.ZodObject)],
  ["Alias", zodKeys(Alias)],
  ["DeleteAliasResponse", zodKeys(DeleteAliasResult)],
  ["GetAgentRequest", zodKeys(AgentIdParams)],
  ["Agent", zodKeys(AgentView)],
  ["PoolStatus", zodKeys(PoolStatus)],
  ["MemoryUse", zodKeys(AgentView.shape.memoryMb.unwrap())],
  ["MetricsSeries", zodKeys(MetricsSeries)],
  ["MetricsBucket", zodKeys(MetricsBucket)],
  ["MetricsTotals", zodKeys(MetricsTotals)],
  ["MetricsTotalsDuration", zodKeys(MetricsTotals.shape.durationMs)],
  ["FunctionActivity", zodKeys(FunctionActivity)],
  ["Build", zodKeys(Build)],
  ["TriggerSpec", sorted(new Set([SubjectTriggerSpec, StreamTriggerSpec, ScheduleTriggerSpec].flatMap((k) => Object.keys(k.shape))))],
  ["Trigger", zodKeys(Trigger)],
  ["TriggerCounters", zodKeys(TriggerCounters)],
  ["DeadLetter", zodKeys(DeadLetterView)],
  ["DeadLetterPage", zodKeys(DeadLetterPage)],
  ["TriggerMessage", zodKeys(TriggerMessage)],
  ["ListDeadLettersRequest", sorted(["name", ...Object.keys(ListDeadLettersQuery.shape)])],
  ["DeadLetterRequest", ["id", "name"]],
  ["RedriveDeadLettersRequest", sorted(["name", ...Object.keys(RedriveRequest.shape)])],
  ["RedriveDeadLettersResponse", zodKeys(RedriveResult)],
  ["Redriven", zodKeys(RedriveResult.shape.redriven.element)],
  ["PurgeDeadLettersRequest", ["name"]],
  ["PurgeDeadLettersResponse", zodKeys(PurgeResult)],
];

for (const [name, expected] of pairs) {
  test(`weft.v1.${name} has the fields of its shared schema`, () => {
    assert.deepEqual(protoFields(name), expected);
  });
}

/** Fields a client may leave out must have presence in proto3: `optional`, a message, a map or a list. */
const hasPresence = (field: protobuf.Field) =>
  field.options?.proto3_optional === true || field.map || field.repeated || field.resolve().resolvedType instanceof protobuf.Type;

for (const [name, schema] of [
  ["FunctionSpec", FunctionSpec],
  ["Limits", Limits],
  ["AsyncConfig", AsyncConfig],
  ["InvocationResult", InvocationResult],
  ["InvocationError", InvocationError],
  ["GetFunctionRequest", GetFunctionRequest],
  ["GetMetricsRequest", MetricsRequest],
  ["ListInvocationsRequest", ListInvocationsRequest],
] as const) {
  test(`weft.v1.${name}: every field that may be left out can be told apart from zero`, () => {
    const shape = (schema as z.ZodObject).shape as Record<string, z.ZodType>;
    for (const [key, field] of Object.entries(shape)) {
      if (!field.safeParse(undefined).success) continue; // required: "" or 0 is refused by the schema anyway
      assert.ok(hasPresence(message(name).fields[key]!), `${name}.${key} is optional in the schema, so it needs presence in the proto`);
    }
  });
}

test("every rpc of the brief is in the contract", () => {
  const methods = (service: string) => Object.keys(root.lookupService(`weft.v1.${service}`).methods).sort();
  assert.deepEqual(methods("FunctionService"), ["DeleteFunction", "DeleteVersion", "GetFunction", "GetMetrics", "GetMetricsSeries", "ListFunctions", "ListVersions", "PutFunction"]);
  assert.deepEqual(methods("InvocationService"), ["FollowLogs", "GetInvocation", "GetLogs", "Invoke", "InvokeAsync", "ListInvocations", "QueryInvocations"]);
  assert.deepEqual(methods("AliasService"), ["DeleteAlias", "GetAlias", "ListAliases", "PutAlias"]);
  assert.deepEqual(methods("AgentService"), ["GetAgent", "ListAgents"]);
  assert.deepEqual(methods("ExecutionService"), ["Execute"]);
});

test("events and outputs are google.protobuf.Value, so they are plain JSON to grpcurl", () => {
  for (const [msg, field] of [["InvokeRequest", "event"], ["InvocationResult", "output"], ["InvocationRecord", "event"], ["InvocationRecord", "output"]]) {
    assert.equal(message(msg!).fields[field!]!.resolve().resolvedType?.fullName, ".google.protobuf.Value", `${msg}.${field}`);
  }
});
