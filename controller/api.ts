// The controller's API: NATS request-reply on weft.ctl.* (queue group weft-controllers), one handler per op.
// Requests are validated with the shared zod schemas; every failure is answered as a ControllerReply error,
// never left without a reply, so the gateway can map it to HTTP and gRPC.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Db } from "mongodb";
import type { z } from "zod";
import type { Logger } from "pino";
import { WeftError, asWeftError, fromZodError, invalid, notFound } from "../shared/errors.js";
import {
  AliasRequest,
  DeleteFunctionRequest,
  DeleteVersionRequest,
  ListAliasesRequest,
  PutAliasRequest,
  FunctionVersionsRequest,
  GetFunctionRequest,
  GetInvocationRequest,
  ListFunctionsRequest,
  ListInvocationsRequest,
  MetricsRequest,
  MetricsSeriesRequest,
  PutFunctionRequest,
  QueryInvocationsRequest,
  type ControllerReply,
  type DeleteFunctionResult,
  type HealthResult,
  type PutFunctionResult,
  type QueryInvocationsResult,
} from "../shared/schemas/controller-api.js";
import { DEFAULT_HANDLER, FunctionSpec, summarize, type DeployedSpec, type FunctionDefinition, type FunctionSummary } from "../shared/schemas/function.js";
import { languageOf, resolveRuntime, type Runtime } from "../shared/runtimes.js";
import { bundleTypeScript, describeTranspileError, transpileTypeScript } from "../shared/typescript.js";
import { type Build } from "../shared/schemas/function.js";
import { BuildLogRequest, type BuildReport } from "../shared/schemas/build.js";
import { entryPath, languageOf as bundleLanguageOf, normalizeBundle, versionFiles, type NormalizedSpec } from "../shared/bundle.js";
import { Builds } from "./builds/builds.js";
import type { FunctionMetrics, InvocationRecord } from "../shared/schemas/invocation.js";
import { CONTROLLER_QUEUE, controllerSubject, type ControllerOp } from "../shared/subjects.js";
import { fromMongoError, pingMongo } from "./database.js";
import { MAX_DEFINITION_BYTES, type FunctionPublisher } from "./function-publisher.js";
import type { FunctionStore } from "./function-store.js";
import type { AliasStore } from "./alias-store.js";
import type { DeadLetterPurge } from "./dead-letters.js";
import { AliasSpec, type Alias, type DeleteAliasResult, type DeleteVersionResult } from "../shared/schemas/alias.js";
import type { Incarnated, InvocationRecords } from "./invocation-records.js";
import { queryInvocations } from "./invocation-query.js";
import { metricsSeries } from "./metrics-series.js";
import { LIMITS } from "../shared/limits.js";
import type { FunctionVersions } from "../shared/schemas/function-versions.js";
import type { MetricsSeries } from "../shared/schemas/metrics-series.js";
import type { SyntaxChecker } from "./syntax-check.js";
import { WriteQueue } from "./write-queue.js";
import { withDeadline } from "../shared/lifecycle.js";

export interface ApiDeps {
  nc: NatsConnection;
  db: Db;
  store: FunctionStore;
  aliases: AliasStore;
  /** Purges a deleted function's dead letters with the rest of its data (absent: they age out after 14 days). */
  deadLetters?: DeadLetterPurge;
  records: InvocationRecords;
  publisher: FunctionPublisher;
  /** Absent when deploy-time syntax checks are turned off. */
  syntax: SyntaxChecker | undefined;
  /** Builds bundles' versions; without it a bundle is refused. */
  builds?: Builds | undefined;
  /** Asks for the bucket to be re-mirrored from MongoDB (after a publish failed). */
  requestReconcile: () => void;
  metricsWindowMs: number;
  log: Logger;
}


type Handler = (body: unknown) => Promise<unknown>;

/** Each step of purging a deleted function is bounded, so a stop never waits long on one. */
const PURGE_STEP_MS = 3000;

/** Room in a definition for the fields the controller adds to the spec (version, sha256, dates). */
const DEFINITION_OVERHEAD_BYTES = 1024;

export class ControllerApi {
  private readonly subs: Subscription[] = [];
  private readonly inflight = new Set<Promise<void>>();
  /** A function's MongoDB write and its mirror into the bucket run together, one name at a time. */
  private readonly writes = new WriteQueue();
  private stopped: Promise<void> | undefined;

  constructor(private readonly deps: ApiDeps) {}

  private readonly handlers: Record<ControllerOp, Handler> = {
    "functions.put": (b) => this.putFunction(b),
    "functions.get": (b) => this.getFunction(b),
    "functions.list": (b) => this.listFunctions(b),
    "functions.delete": (b) => this.deleteFunction(b),
    "functions.metrics": (b) => this.metrics(b),
    "invocations.get": (b) => this.getInvocation(b),
    "invocations.list": (b) => this.listInvocations(b),
    "aliases.put": (b) => this.putAlias(b),
    "aliases.get": (b) => this.getAlias(b),
    "aliases.list": (b) => this.listAliases(b),
    "aliases.delete": (b) => this.deleteAlias(b),
    "versions.delete": (b) => this.deleteVersion(b),
    "invocations.query": (b) => this.queryInvocations(b),
    "functions.versions": (b) => this.functionVersions(b),
    "functions.build": (b) => this.buildReport(b),
    "metrics.series": (b) => this.metricsSeries(b),
    health: () => this.health(),
  };

  start(): void {
    for (const [op, handler] of Object.entries(this.handlers) as [ControllerOp, Handler][]) {
      const sub = this.deps.nc.subscribe(controllerSubject(op), {
        queue: CONTROLLER_QUEUE,
        callback: (err, msg) => {
          if (err) this.deps.log.error({ err, op }, "controller subscription failed");
          else this.track(this.serve(op, handler, msg));
        },
      });
      this.subs.push(sub);
    }
  }

  /** Stops taking requests and waits for the ones being served; a second call returns the same promise. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await Promise.allSettled(this.subs.map((s) => s.drain()));
      await Promise.allSettled([...this.inflight]);
    })();
    return this.stopped;
  }

  private track(p: Promise<void>): void {
    const settled = p
      .catch((err: unknown) => this.deps.log.error({ err }, "controller request failed unanswered"))
      .finally(() => this.inflight.delete(settled));
    this.inflight.add(settled);
  }

  private async serve(op: ControllerOp, handler: Handler, msg: Msg): Promise<void> {
    const started = performance.now();
    let reply: ControllerReply<unknown>;
    try {
      reply = { ok: true, result: await handler(decode(msg)) };
    } catch (err) {
      const error = toWeftError(err);
      const log = { op, code: error.code, field: error.field, err: error.code === "INTERNAL" ? err : undefined };
      if (error.code === "INTERNAL" || error.code === "UNAVAILABLE") this.deps.log.warn(log, error.message);
      else this.deps.log.debug(log, error.message);
      reply = { ok: false, error: error.toBody() };
    }
    this.respond(msg, op, reply);
    this.deps.log.debug({ op, ok: reply.ok, ms: Math.round(performance.now() - started) }, "controller request");
  }

  private respond(msg: Msg, op: ControllerOp, reply: ControllerReply<unknown>): void {
    if (!msg.reply) return;
    try {
      msg.respond(JSON.stringify(reply));
    } catch (err) {
      // e.g. a reply over NATS max_payload: the caller still gets an answer rather than a timeout.
      this.deps.log.error({ err, op }, "controller reply could not be sent");
      const error = new WeftError("INTERNAL", `the ${op} reply could not be sent: ${(err as Error).message}`);
      try {
        msg.respond(JSON.stringify({ ok: false, error: error.toBody() }));
      } catch (again) {
        // The connection itself is gone (e.g. closed during shutdown): nobody is left to answer.
        this.deps.log.warn({ err: again, op }, "controller error reply could not be sent either");
      }
    }
  }

  private async putFunction(body: unknown): Promise<PutFunctionResult> {
    const { name, spec: raw } = parse(PutFunctionRequest, body);
    const spec = parse(FunctionSpec, raw);
    if (spec.name !== undefined && spec.name !== name) throw invalid("name", `is ${spec.name} in the body but ${name} in the path`);
    const normalized = normalizeBundle(spec);
    checkDefinitionSize(spec);
    const deployed = await this.deployable(normalized);
    if (deployed.compiled !== undefined) checkDefinitionSize(deployed);
    const build = Builds.initial(deployed);
    if (build && !this.deps.builds) throw new WeftError("UNAVAILABLE", "this controller builds no bundles (it has no Docker engine)", "files");
    const { definition, created } = await this.writes.run(name, async () => {
      const stored = await this.deps.store.put(name, deployed, build);
      await this.mirror(() => this.deps.publisher.publish(stored.definition), name, stored.definition.version);
      return stored;
    });
    this.deps.log.info({ fn: name, incarnation: definition.incarnation, version: definition.version, created, build: build?.status }, "function stored");
    if (definition.build) this.deps.builds?.start(definition);
    return { ...summarize(definition), created };
  }

  /**
   * The spec as stored: its runtime resolved to the exact one it is built for (python3 → python3.13 today; the
   * version keeps it whatever the alias means later), its code checked, and TypeScript compiled to JavaScript.
   */
  private async deployable(spec: NormalizedSpec): Promise<DeployedSpec & { code: string }> {
    const runtime = resolveRuntime(spec.runtime);
    if (spec.files && languageOf(runtime) === "typescript") return this.checkedTypeScriptBundle(spec, runtime);
    // A Node bundle's entry may be an ES module, which the CommonJS check would refuse: its errors show at init.
    if (spec.files && bundleLanguageOf(runtime) === "node") return { ...spec, runtime };
    if (languageOf(runtime) === "typescript") {
      const out = await transpileTypeScript(spec.code);
      if (!out.ok) throw invalid("code", `does not parse as typescript: ${describeTranspileError(out)}`);
      return { ...spec, runtime, compiled: out.code };
    }
    const problem = await this.deps.syntax?.check(runtime, spec.code);
    if (problem) throw invalid(spec.files ? "handler" : "code", `does not parse as ${runtime}: ${problem}`);
    return { ...spec, runtime };
  }

  /** A TypeScript bundle is compiled once here to refuse a file that does not parse (by path, line and column); its build compiles it again. */
  private async checkedTypeScriptBundle(spec: NormalizedSpec, runtime: Runtime): Promise<DeployedSpec & { code: string }> {
    const files = versionFiles(spec);
    const entry = entryPath(runtime, spec.handler ?? DEFAULT_HANDLER, (p) => files.has(p));
    const out = await bundleTypeScript(files, entry);
    if (!out.ok) throw invalid(`files.${out.file}`, `does not compile as typescript: ${describeTranspileError(out)}`);
    return { ...spec, runtime };
  }

  /** A build's outcome: MongoDB first, then the bucket (gateways waiting on the version see it there). */
  async recordBuild(def: FunctionDefinition, build: Build, log: string): Promise<void> {
    await this.writes.run(def.name, async () => {
      const stored = await this.deps.store.setBuild(def, build, log);
      if (!stored) return; // deleted meanwhile
      await this.mirror(() => this.deps.publisher.republish(stored), def.name, def.version);
    });
  }

  private async buildReport(body: unknown): Promise<BuildReport> {
    const { name, version } = parse(BuildLogRequest, body);
    const { definition, log } = await this.deps.store.buildLog(name, version);
    if (!definition.build) throw notFound(`build of function ${name} version ${version} (it is a single file, nothing is built)`);
    return { name, version, build: definition.build, log };
  }

  /** The user's code, not what Weft compiled from it (which only the agents load, from the functions bucket). */
  private async getFunction(body: unknown): Promise<FunctionDefinition> {
    const { name, version } = parse(GetFunctionRequest, body);
    const { compiled: _compiled, ...def } = await this.deps.store.get(name, version);
    return def;
  }

  private async listFunctions(body: unknown): Promise<FunctionSummary[]> {
    parse(ListFunctionsRequest, body ?? {});
    return this.deps.store.list();
  }

  private async deleteFunction(body: unknown): Promise<DeleteFunctionResult> {
    const { name } = parse(DeleteFunctionRequest, body);
    const incarnation = await this.writes.run(name, async () => {
      let ended: string;
      try {
        ended = await this.deps.store.delete(name);
      } catch (err) {
        // A retried DELETE whose first attempt could not reach NATS: finish the unpublish, then say NOT_FOUND.
        if (err instanceof WeftError && err.code === "NOT_FOUND") await this.unpublishLeftover(name);
        throw err;
      }
      await this.mirror(() => this.deps.publisher.unpublish(name), name);
      return ended;
    });
    this.deps.log.info({ fn: name, incarnation }, "function deleted");
    // Nothing reads the ended incarnation any more; removing its data need not hold up the answer.
    this.track(this.purge({ functionName: name, incarnation }));
    return { name, deleted: true };
  }

  /**
   * Removes an ended incarnation's versions (bucket and MongoDB) and records. Each step runs even if another
   * failed, each bounded (stop waits for this); whatever is left stays unreachable, and reconcile purges
   * leftover bucket keys.
   */
  private async purge(fn: Incarnated): Promise<void> {
    const { publisher, store, records, log } = this.deps;
    const { functionName: name, incarnation } = fn;
    const steps: Array<[string, () => Promise<number>]> = [
      ["bucket versions", async () => publisher.purgeVersions(name, incarnation, await store.versionNumbers(name, incarnation, Number.MAX_SAFE_INTEGER))],
      ["MongoDB versions", () => store.purgeVersions(name, incarnation)],
      ["records", () => records.purge(fn)],
      ["aliases", () => this.deps.aliases.purge(fn)],
      ["dead letters", async () => (await this.deps.deadLetters?.purge(name)) ?? 0],
    ];
    let complete = true;
    for (const [what, step] of steps) {
      try {
        if (!(await withDeadline(step(), PURGE_STEP_MS))) throw new Error(`not finished within ${PURGE_STEP_MS} ms; left to finish alone`);
      } catch (err) {
        complete = false;
        log.warn({ err, fn: name, incarnation, what }, "purging a deleted function's data failed; it stays unreachable");
      }
    }
    if (complete) log.info({ fn: name, incarnation }, "deleted function purged");
  }

  private async unpublishLeftover(name: string): Promise<void> {
    if (!(await this.deps.store.known(name))) return;
    try {
      await this.deps.publisher.unpublish(name);
    } catch (err) {
      this.deps.log.warn({ err, fn: name }, "could not remove a deleted function's latest key; reconcile will");
      this.deps.requestReconcile();
    }
  }

  /** Every version an alias names must exist; writes to one function run one at a time, so none is deleted meanwhile. */
  private async putAlias(body: unknown): Promise<Alias> {
    const { name, alias, spec: raw } = parse(PutAliasRequest, body);
    const spec = parse(AliasSpec, raw);
    const stored = await this.writes.run(name, async () => {
      const fn = await this.live(name);
      await this.deps.store.get(name, spec.version);
      for (const v of Object.keys(spec.weights ?? {})) {
        await this.deps.store.get(name, Number(v)).catch((err: unknown) => {
          if (err instanceof WeftError && err.code === "NOT_FOUND") throw invalid("weights", `version ${v} of function ${name} does not exist`);
          throw err;
        });
      }
      return this.deps.aliases.put(fn, alias, spec);
    });
    this.deps.log.info({ fn: name, alias, version: stored.version, weights: stored.weights }, "alias stored");
    return stored;
  }

  private async getAlias(body: unknown): Promise<Alias> {
    const { name, alias } = parse(AliasRequest, body);
    return this.deps.aliases.get(await this.live(name), alias);
  }

  private async listAliases(body: unknown): Promise<Alias[]> {
    const { name } = parse(ListAliasesRequest, body);
    return this.deps.aliases.list(await this.live(name));
  }

  private async deleteAlias(body: unknown): Promise<DeleteAliasResult> {
    const { name, alias } = parse(AliasRequest, body);
    await this.writes.run(name, async () => this.deps.aliases.delete(await this.live(name), alias));
    this.deps.log.info({ fn: name, alias }, "alias deleted");
    return { name, alias, deleted: true };
  }

  /** Refused while an alias can run the version; its code then leaves MongoDB and the bucket. */
  private async deleteVersion(body: unknown): Promise<DeleteVersionResult> {
    const { name, version } = parse(DeleteVersionRequest, body);
    await this.writes.run(name, async () => {
      const fn = await this.live(name);
      const pointing = await this.deps.aliases.pointingTo(fn, version);
      if (pointing.length) throw new WeftError("CONFLICT", `version ${version} of ${name} is used by alias ${pointing.join(", ")}; move or delete the alias first`);
      const incarnation = await this.deps.store.deleteVersion(name, version);
      await this.mirror(() => this.deps.publisher.purgeVersions(name, incarnation, [version]).then(() => undefined), name, version);
    });
    this.deps.log.info({ fn: name, version }, "version deleted");
    return { name, version, deleted: true };
  }

  private async metrics(body: unknown): Promise<FunctionMetrics> {
    const { name, windowMs } = parse(MetricsRequest, body);
    const fn = await this.live(name);
    return this.deps.records.metrics(fn, windowMs ?? this.deps.metricsWindowMs);
  }

  /** A record is shown only while the incarnation it belongs to is live: a deleted function's are NOT_FOUND. */
  private async getInvocation(body: unknown): Promise<InvocationRecord> {
    const { invocationId } = parse(GetInvocationRequest, body);
    const stored = await this.deps.records.get(invocationId);
    // Ad-hoc code belongs to no function: its record is found by id for as long as records are kept.
    if (stored?.record.kind === "execute") return stored.record;
    const live = stored?.incarnation && (await this.deps.store.liveIncarnation(stored.record.functionName));
    if (!stored || !live || live !== stored.incarnation) throw notFound(`invocation ${invocationId}`);
    return stored.record;
  }

  private async listInvocations(body: unknown): Promise<InvocationRecord[]> {
    const { name, limit } = parse(ListInvocationsRequest, body);
    return this.deps.records.list(await this.live(name), limit);
  }

  private async queryInvocations(body: unknown): Promise<QueryInvocationsResult> {
    const { name, ...query } = parse(QueryInvocationsRequest, body);
    return queryInvocations(this.deps.records, { ...query, scopes: await this.scopes(name) });
  }

  private async functionVersions(body: unknown): Promise<FunctionVersions> {
    const { name } = parse(FunctionVersionsRequest, body);
    return { name, ...(await this.deps.store.versionList(name, LIMITS.listLimit.max)) };
  }

  private async metricsSeries(body: unknown): Promise<MetricsSeries> {
    const { name, windowMs } = parse(MetricsSeriesRequest, body);
    return metricsSeries(this.deps.records, { name, scopes: await this.scopes(name) }, windowMs ?? this.deps.metricsWindowMs);
  }

  /** The live incarnation of one function (NOT_FOUND when deleted), or of every live function. */
  private async scopes(name: string | undefined): Promise<Incarnated[]> {
    if (name !== undefined) return [await this.live(name)];
    return (await this.deps.store.liveFunctions()).map((f) => ({ functionName: f.name, incarnation: f.incarnation }));
  }

  private async health(): Promise<HealthResult> {
    return { mongo: (await pingMongo(this.deps.db)) ? "ok" : "unavailable" };
  }

  /** Records and metrics are those of the live incarnation; a deleted function's are NOT_FOUND. */
  private async live(name: string): Promise<Incarnated> {
    const incarnation = await this.deps.store.liveIncarnation(name);
    if (!incarnation) throw notFound(`function ${name}`);
    return { functionName: name, incarnation };
  }

  /** MongoDB already holds the change; if NATS refuses the mirror, reconcile will finish it. */
  private async mirror(step: () => Promise<void>, fn: string, version?: number): Promise<void> {
    try {
      await step();
    } catch (err) {
      this.deps.log.warn({ err, fn, version }, "function bucket update failed; reconcile scheduled");
      this.deps.requestReconcile();
      throw new WeftError(
        "UNAVAILABLE",
        "the function bucket (NATS) is unavailable; the change is stored and will reach the bucket when NATS is back",
        undefined,
        { cause: err },
      );
    }
  }
}

function decode(msg: Msg): unknown {
  if (msg.data.length === 0) return {};
  try {
    return msg.json();
  } catch {
    throw new WeftError("INVALID_ARGUMENT", "body: the request is not JSON", "body");
  }
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

function toWeftError(err: unknown): WeftError {
  return asWeftError(fromMongoError(err));
}

function checkDefinitionSize(spec: FunctionSpec | DeployedSpec): void {
  if (Buffer.byteLength(JSON.stringify(spec)) + DEFINITION_OVERHEAD_BYTES > MAX_DEFINITION_BYTES) {
    throw new WeftError("PAYLOAD_TOO_LARGE", `code: the definition is over ${MAX_DEFINITION_BYTES} bytes once encoded`, "code");
  }
}
