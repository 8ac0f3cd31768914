// The gRPC API (weft.v1 FunctionService and InvocationService) with server reflection, so generic clients
// such as grpcurl work without the .proto. Errors are gRPC statuses mapped from Weft's codes.
import {
  Metadata,
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from "@grpc/grpc-js";
import type { MethodDefinition } from "@grpc/proto-loader";
import { WeftError, asWeftError, fromZodError, invalid, notFound } from "../shared/errors.js";
import { LIMITS } from "../shared/limits.js";
import type { Logger } from "../shared/logger.js";
import type { InvocationResult } from "../shared/schemas/invocation.js";
import type { ControlPlane } from "./control-plane.js";
import * as args from "./arguments.js";
import { eventTooDeep } from "./event.js";
import { eventFromMessage, functionToMessage, recordToMessage, resultToMessage, specFromMessage, type FunctionSpecMsg, type InvokeRequestMsg } from "./grpc-mapping.js";
import { Overloaded, type CallerGone, type Invoker } from "./invoker.js";
import type { Executor } from "./executor.js";
import { executeFromMessage, executionToMessage, type ExecuteRequestMsg } from "./grpc-execute.js";
import { PROTO_PACKAGE, loadWeftProto } from "./proto.js";
import { protoValueDepth } from "./proto-value-depth.js";
import { addReflection } from "./reflection.js";
import { routeCaller, surfaceServices } from "./grpc-routes.js";
import type { Route } from "./http-routes.js";
import type { InvocationFeed } from "./invocation-feed.js";
import { LogsQuery } from "../shared/schemas/function-logs.js";
import { idempotencyKey } from "./idempotency.js";
import { triggerService } from "./triggers-grpc.js";
import { deadLetterService } from "./dead-letters-grpc.js";
import type { DeadLetters } from "./dead-letters.js";
import type { TriggersService } from "./triggers-service.js";

export interface GrpcDeps {
  invoker: Invoker;
  executor: Executor;
  plane: ControlPlane;
  triggers: TriggersService;
  deadLetters: DeadLetters;
  log: Logger;
  /** The HTTP routes whose reads the gRPC API also serves (grpc-routes.ts). */
  routes: Route[];
  /** The live streams (FollowLogs). */
  feed: InvocationFeed;
}

export interface GrpcApi {
  readonly port: number;
  /** Stops accepting calls and resolves when the calls in progress have finished. */
  drain(): Promise<void>;
  /** Cancels whatever is still running. */
  close(): void;
}

/** Metadata keys that carry the Weft error code, the field at fault and (for a sync wait that ran out) the invocation. */
export const GRPC_METADATA = {
  errorCode: "weft-error-code",
  /** Seconds to wait before retrying, on a call refused because the gateway is overloaded. */
  retryAfter: "retry-after",
  errorField: "weft-error-field",
  invocationId: "weft-invocation-id",
} as const;

/** Room for a PUT with the largest code, JSON-escaped, in one message. */
const MAX_RECEIVE_BYTES = LIMITS.functionBodyBytes + 1024 * 1024;

type Call = ServerUnaryCall<Record<string, any>, unknown>;

export async function startGrpcApi(host: string, port: number, deps: GrpcDeps): Promise<GrpcApi> {
  const pkg = loadWeftProto();
  const server = new Server({ "grpc.max_receive_message_length": MAX_RECEIVE_BYTES });
  const call = routeCaller(deps.routes);
  const more = surfaceServices(call, deps.plane, unary, deps.log);
  server.addService(guarded(pkg[`${PROTO_PACKAGE}.FunctionService`] as ServiceDefinition), { ...functionService(deps), ...more.functions });
  server.addService(guarded(pkg[`${PROTO_PACKAGE}.InvocationService`] as ServiceDefinition), { ...invocationService(deps), ...more.invocations, FollowLogs: followLogs(deps) });
  server.addService(guarded(pkg[`${PROTO_PACKAGE}.AliasService`] as ServiceDefinition), more.aliases);
  server.addService(guarded(pkg[`${PROTO_PACKAGE}.AgentService`] as ServiceDefinition), more.agents);
  server.addService(guarded(pkg[`${PROTO_PACKAGE}.ExecutionService`] as ServiceDefinition), {
    Execute: unary(deps.log, async (req, call) => {
      const result = await deps.executor.execute(executeFromMessage(req as ExecuteRequestMsg), peerAddress(call.getPeer()), "grpc");
      return executionToMessage(JSON.parse(Buffer.from(result).toString("utf8")) as Record<string, unknown>);
    }),
  });
  server.addService(guarded(pkg[`${PROTO_PACKAGE}.TriggerService`] as ServiceDefinition), triggerService(deps.triggers, (fn) => unary(deps.log, fn)));
  server.addService(guarded(pkg[`${PROTO_PACKAGE}.DeadLetterService`] as ServiceDefinition), deadLetterService(deps.deadLetters, call, (fn) => unary(deps.log, fn)));
  addReflection(server);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port: bound,
    drain: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
    close: () => server.forceShutdown(),
  };
}

function functionService({ plane, log }: GrpcDeps): UntypedServiceImplementation {
  return {
    PutFunction: unary(log, async (req) => {
      const name = args.functionName(req.name);
      const result = await plane.putFunction(name, specFromMessage(req.spec as FunctionSpecMsg | undefined));
      const { created, ...summary } = result;
      return { function: summary, created };
    }),
    GetFunction: unary(log, async (req) => functionToMessage(await plane.getFunction(req.name, req.version))),
    ListFunctions: unary(log, async () => ({ functions: await plane.listFunctions() })),
    DeleteFunction: unary(log, (req) => plane.deleteFunction(req.name)),
    GetMetrics: unary(log, (req) => plane.metrics(req.name, req.windowMs)),
  };
}

function invocationService({ invoker, plane, log }: GrpcDeps): UntypedServiceImplementation {
  return {
    Invoke: unary(log, async (req, call) => {
      const input = invocationInput(req, call);
      const gone: CallerGone = (stop) => {
        call.once("cancelled", stop);
        return () => call.off("cancelled", stop);
      };
      const outcome = await invoker.invokeSync(input, gone);
      if (outcome.kind === "running") throw new StillRunning(outcome.invocationId);
      const result = JSON.parse(Buffer.from(outcome.result).toString("utf8")) as InvocationResult;
      return resultToMessage(result);
    }),
    InvokeAsync: unary(log, (req, call) => invoker.invokeAsync(invocationInput(req, call))),
    GetInvocation: unary(log, async (req) => recordToMessage(await plane.getInvocation(req.invocationId))),
    ListInvocations: unary(log, async (req) => ({
      invocations: (await plane.listInvocations(req.name, req.limit)).map(recordToMessage),
    })),
  };
}

/** FollowLogs: the log stream of GET /v1/functions/{name}/logs?follow=true, one LogPage per ended invocation. */
function followLogs({ feed, log }: GrpcDeps) {
  return (call: ServerWritableStream<Record<string, any>, unknown>) => {
    Promise.resolve(call.request as unknown)
      .then(async (req) => {
        if (req instanceof Refused) throw req.error;
        const { name, status } = req as { name?: string; status?: string };
        const fn = args.functionName(name);
        const parsed = LogsQuery.pick({ status: true }).safeParse({ status });
        if (!parsed.success) throw fromZodError(parsed.error);
        if (!feed.knows(fn)) throw notFound(`function ${fn}`);
        await feed.followLogs(call, { functionName: fn, status: parsed.data.status });
      })
      .then(
        // The client cancelled, or the gateway is stopping (the feed ended the stream already).
        () => void (call.writableEnded || call.end()),
        (err: unknown) => call.emit("error", toStatus(err, call as unknown as Call, log)),
      );
  };
}

function invocationInput(req: InvokeRequestMsg, call: Call) {
  const traceparent = call.metadata.get("traceparent")[0];
  return {
    name: args.functionName(req.name),
    version: args.version(req.version),
    alias: args.optionalAlias(req.alias),
    event: eventFromMessage(req),
    via: "grpc" as const,
    traceparent: typeof traceparent === "string" ? traceparent : undefined,
    idempotencyKey: idempotencyKey(req.idempotencyKey, "idempotency_key"),
  };
}

/** "ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000" → the address without the port: the rate limit's client. */
function peerAddress(peer: string): string {
  return peer.replace(/:\d+$/, "");
}

/** A sync call whose wait ran out: the invocation goes on; its id travels in the metadata. */
class StillRunning extends WeftError {
  constructor(invocationId: string) {
    super("DEADLINE_EXCEEDED", `invocation ${invocationId} is still running; read it later with GetInvocation`, undefined, { invocationId });
  }
}

/**
 * A request the gateway refused while decoding it. grpc-js answers INTERNAL for anything a deserializer throws, so
 * the deserializer returns this instead, and the handler answers with its error like any other bad input.
 */
class Refused {
  constructor(readonly error: WeftError) {}
}

/** The service with every request decoded through `guardedDecoder`. */
function guarded(service: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      { ...method, requestDeserialize: guardedDecoder(method as unknown as MethodDefinition<unknown, unknown>) },
    ]),
  ) as ServiceDefinition;
}

/**
 * Decodes a request, first measuring on the wire how deeply its JSON `event` (a google.protobuf.Value) nests, so a
 * deep one gets the same INVALID_ARGUMENT as over HTTP and NATS and never reaches protobufjs's recursive decoder;
 * bytes that are not the message are INVALID_ARGUMENT too.
 */
function guardedDecoder(method: MethodDefinition<unknown, unknown>): (bytes: Buffer) => unknown {
  const type = method.requestType.type as { name: string; field: Array<{ name: string; number: number; typeName: string }> };
  const eventField = type.field.find((f) => f.name === "event" && f.typeName === "google.protobuf.Value")?.number;
  return (bytes) => {
    if (eventField !== undefined && protoValueDepth(bytes, eventField, LIMITS.jsonDepth) > LIMITS.jsonDepth) return new Refused(eventTooDeep());
    try {
      return method.requestDeserialize(bytes);
    } catch (err) {
      return new Refused(invalid("request", `is not a valid ${PROTO_PACKAGE}.${type.name} message (${(err as Error).message})`));
    }
  };
}

function unary(log: Logger, fn: (req: Record<string, any>, call: Call) => Promise<unknown>) {
  return (call: Call, callback: sendUnaryData<unknown>) => {
    // Through a promise, so a synchronous throw becomes the same mapped status as a rejection.
    Promise.resolve(call.request as unknown)
      .then((req) => {
        if (req instanceof Refused) throw req.error;
        return fn(req as Record<string, any>, call);
      })
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(toStatus(err, call, log)),
      );
  };
}

function toStatus(err: unknown, call: Call, log: Logger) {
  const e = asWeftError(err);
  if (e.code === "INTERNAL") log.error({ err: e.cause ?? e, method: call.getPath() }, "unexpected error in the gRPC API");
  const metadata = new Metadata();
  metadata.set(GRPC_METADATA.errorCode, e.code);
  if (e.field) metadata.set(GRPC_METADATA.errorField, e.field);
  if (e.invocationId !== undefined) metadata.set(GRPC_METADATA.invocationId, e.invocationId);
  if (e instanceof Overloaded) metadata.set(GRPC_METADATA.retryAfter, String(e.retryAfterS));
  return { code: e.grpcStatus ?? GrpcStatus.INTERNAL, details: e.message, metadata };
}
