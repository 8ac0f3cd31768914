// Function CRUD, invocation look-up and metrics: checked here (fail fast, field named), answered by the
// controller. After a write, waits until this gateway's function cache shows it, so the caller's next
// invocation through this gateway sees its own write.
import type { Logger } from "../shared/logger.js";
import type { FunctionDefinition, FunctionSummary } from "../shared/schemas/function.js";
import type { FunctionMetrics, InvocationRecord } from "../shared/schemas/invocation.js";
import * as args from "./arguments.js";
import type { DeleteFunctionResult, PutFunctionResult } from "../shared/schemas/controller-api.js";
import type { ControllerClient } from "./controller-client.js";
import type { FunctionCache } from "./function-cache.js";
import type { AliasResolver } from "./alias-resolver.js";
import type { Alias, DeleteAliasResult, DeleteVersionResult } from "../shared/schemas/alias.js";

const READ_YOUR_WRITES_MS = 2000;

export class ControlPlane {
  constructor(
    private readonly controller: ControllerClient,
    private readonly cache: FunctionCache,
    private readonly log: Logger,
    private readonly aliases?: AliasResolver,
  ) {}

  async putAlias(rawName: unknown, rawAlias: unknown, spec: unknown): Promise<Alias> {
    const name = args.functionName(rawName);
    const alias = args.aliasName(rawAlias);
    const stored = await this.controller.putAlias(name, alias, spec);
    this.aliases?.forget(name, alias);
    return stored;
  }

  async getAlias(rawName: unknown, rawAlias: unknown): Promise<Alias> {
    return this.controller.getAlias(args.functionName(rawName), args.aliasName(rawAlias));
  }

  async listAliases(rawName: unknown): Promise<Alias[]> {
    return this.controller.listAliases(args.functionName(rawName));
  }

  async deleteAlias(rawName: unknown, rawAlias: unknown): Promise<DeleteAliasResult> {
    const name = args.functionName(rawName);
    const alias = args.aliasName(rawAlias);
    const result = await this.controller.deleteAlias(name, alias);
    this.aliases?.forget(name, alias);
    return result;
  }

  async deleteVersion(rawName: unknown, rawVersion: number): Promise<DeleteVersionResult> {
    const name = args.functionName(rawName);
    const version = args.version(rawVersion);
    if (version === undefined) throw args.required("version");
    return this.controller.deleteVersion(name, version);
  }

  async putFunction(rawName: unknown, spec: unknown): Promise<PutFunctionResult> {
    const name = args.functionName(rawName);
    const result = await this.controller.putFunction(name, args.functionSpec(name, spec));
    // The same incarnation: after DELETE and PUT, the new function's version 1 is not older than the deleted one's 5.
    await this.settle(name, (fn) => fn !== undefined && fn.incarnation === result.incarnation && fn.version >= result.version);
    return result;
  }

  async getFunction(rawName: unknown, version?: number): Promise<FunctionDefinition> {
    return this.controller.getFunction(args.functionName(rawName), args.version(version));
  }

  async listFunctions(): Promise<FunctionSummary[]> {
    return this.controller.listFunctions();
  }

  async deleteFunction(rawName: unknown): Promise<DeleteFunctionResult> {
    const name = args.functionName(rawName);
    const result = await this.controller.deleteFunction(name);
    await this.settle(name, (fn) => fn === undefined);
    return result;
  }

  async metrics(rawName: unknown, windowMs?: number): Promise<FunctionMetrics> {
    return this.controller.metrics(args.functionName(rawName), args.windowMs(windowMs));
  }

  async getInvocation(rawId: unknown): Promise<InvocationRecord> {
    return this.controller.getInvocation(args.invocationId(rawId));
  }

  async listInvocations(rawName: unknown, limit?: number): Promise<InvocationRecord[]> {
    return this.controller.listInvocations(args.functionName(rawName), args.listLimit(limit));
  }

  private async settle(name: string, done: Parameters<FunctionCache["waitFor"]>[1]): Promise<void> {
    if (!(await this.cache.waitFor(name, done, READ_YOUR_WRITES_MS))) {
      this.log.warn({ fn: name }, "the function cache did not show the controller's write in time");
    }
  }
}
