// The controller's API as the gateway uses it: NATS request-reply on weft.ctl.*, one subject per operation.
// A controller that is absent, slow or cut off by a NATS outage is UNAVAILABLE; its own errors come back intact.
import type { BuildReport } from "../shared/schemas/build.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { WeftError, unavailable, type ErrorBody } from "../shared/errors.js";
import type {
  ControllerReply,
  DeleteFunctionResult,
  HealthResult,
  PutFunctionResult,
  QueryInvocationsInput,
  QueryInvocationsResult,
} from "../shared/schemas/controller-api.js";
import type { FunctionDefinition, FunctionSummary } from "../shared/schemas/function.js";
import type { FunctionMetrics, InvocationRecord } from "../shared/schemas/invocation.js";
import type { Alias, DeleteAliasResult, DeleteVersionResult } from "../shared/schemas/alias.js";
import type { FunctionVersions } from "../shared/schemas/function-versions.js";
import type { MetricsSeries } from "../shared/schemas/metrics-series.js";
import { controllerSubject, type ControllerOp } from "../shared/subjects.js";
import type { NatsLink } from "./nats-link.js";


export class ControllerClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly link: NatsLink,
    private readonly timeoutMs: number,
  ) {}

  putFunction(name: string, spec: unknown): Promise<PutFunctionResult> {
    return this.call("functions.put", { name, spec });
  }

  getFunction(name: string, version?: number): Promise<FunctionDefinition> {
    return this.call("functions.get", version === undefined ? { name } : { name, version });
  }

  listFunctions(): Promise<FunctionSummary[]> {
    return this.call("functions.list", {});
  }

  deleteFunction(name: string): Promise<DeleteFunctionResult> {
    return this.call("functions.delete", { name });
  }

  metrics(name: string, windowMs?: number): Promise<FunctionMetrics> {
    return this.call("functions.metrics", windowMs === undefined ? { name } : { name, windowMs });
  }

  getInvocation(invocationId: string): Promise<InvocationRecord> {
    return this.call("invocations.get", { invocationId });
  }

  listInvocations(name: string, limit: number): Promise<InvocationRecord[]> {
    return this.call("invocations.list", { name, limit });
  }

  putAlias(name: string, alias: string, spec: unknown): Promise<Alias> {
    return this.call("aliases.put", { name, alias, spec });
  }

  getAlias(name: string, alias: string): Promise<Alias> {
    return this.call("aliases.get", { name, alias });
  }

  listAliases(name: string): Promise<Alias[]> {
    return this.call("aliases.list", { name });
  }

  deleteAlias(name: string, alias: string): Promise<DeleteAliasResult> {
    return this.call("aliases.delete", { name, alias });
  }

  deleteVersion(name: string, version: number): Promise<DeleteVersionResult> {
    return this.call("versions.delete", { name, version });
  }

  queryInvocations(query: QueryInvocationsInput): Promise<QueryInvocationsResult> {
    return this.call("invocations.query", query);
  }

  functionVersions(name: string): Promise<FunctionVersions> {
    return this.call("functions.versions", { name });
  }

  buildReport(name: string, version: number): Promise<BuildReport> {
    return this.call("functions.build", { name, version });
  }

  metricsSeries(name: string | undefined, windowMs: number | undefined): Promise<MetricsSeries> {
    return this.call("metrics.series", { name, windowMs });
  }

  health(timeoutMs: number): Promise<HealthResult> {
    return this.call("health", {}, timeoutMs);
  }

  private async call<T>(op: ControllerOp, body: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    this.link.ensureUp("the controller");
    let text: string;
    try {
      const reply = await this.nc.request(controllerSubject(op), JSON.stringify(body), { timeout: timeoutMs });
      text = reply.string();
    } catch (err) {
      // No responders, a timeout, or the connection dropping mid-request: all mean "no controller now".
      throw unavailable("the controller", err);
    }
    return unwrap<T>(op, text);
  }
}

function unwrap<T>(op: ControllerOp, text: string): T {
  let reply: ControllerReply<T>;
  try {
    reply = JSON.parse(text) as ControllerReply<T>;
  } catch (err) {
    throw new WeftError("INTERNAL", `the controller's reply to ${op} is not JSON`, undefined, { cause: err });
  }
  if (reply?.ok === true) return reply.result;
  if (reply?.ok === false && isErrorBody(reply.error)) throw WeftError.fromBody(reply.error);
  throw new WeftError("INTERNAL", `the controller's reply to ${op} has no result and no error`);
}

function isErrorBody(e: unknown): e is ErrorBody {
  return typeof e === "object" && e !== null && typeof (e as ErrorBody).code === "string" && typeof (e as ErrorBody).message === "string";
}
