// The gateway's gRPC API on a real nats-server: the same operations and errors as HTTP, mapped to gRPC status
// codes with the Weft code and field in metadata, and server reflection usable by generic clients.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { credentials, loadPackageDefinition, status as GrpcStatus, type ClientDuplexStream } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import protobuf from "protobufjs";
import descriptorExt from "protobufjs/ext/descriptor/index.js";
import { startGateway } from "../gateway/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { fromProtoValue, toProtoValue } from "../gateway/json-value.js";
import { HEADERS } from "../shared/headers.js";
import { LIMITS } from "../shared/limits.js";
import {
  FakeController,
  Responder,
  grpcCall,
  grpcClients,
  grpcError,
  startGatewayUnderTest,
  testLog,
  uniqueName,
  until,
  type GatewayUnderTest,
  type GrpcClients,
} from "./gateway-fixtures.js";

const JS = "exports.handler = async (e) => e";

let g: GatewayUnderTest;
let responder: Responder;
let controller: FakeController;
let grpc: GrpcClients;

before(async () => {
  g = await startGatewayUnderTest();
  responder = await new Responder(g.nc).start();
  controller = await new FakeController(g.nc, g.kv).start();
  grpc = grpcClients(g.grpcAddress);
});

after(async () => {
  grpc?.close();
  responder?.stop();
  controller?.stop();
  await g?.stop();
});

const put = (name: string, spec: Record<string, unknown> = { runtime: "nodejs", code: JS }) =>
  grpcCall(grpc.functions, "PutFunction", { name, spec });
const invoke = (request: Record<string, unknown>) => grpcCall(grpc.invocations, "Invoke", request);

describe("FunctionService", () => {
  test("put (new versions), get (latest and pinned), list, delete", async () => {
    const name = uniqueName("gcrud");
    const created = await put(name, { runtime: "python3", code: "def handler(e, c):\n    return 1\n", env: { GREETING: "hi" }, limits: { timeoutMs: 1000 } });
    assert.equal(created.created, true);
    assert.equal(created.function.name, name);
    assert.equal(created.function.version, 1);
    assert.equal(created.function.limits.timeoutMs, 1000);
    assert.deepEqual(created.function.env, { GREETING: "hi" });
    const updated = await put(name);
    assert.equal(updated.created, false);
    assert.equal(updated.function.version, 2);

    const latest = await grpcCall(grpc.functions, "GetFunction", { name });
    assert.equal(latest.version, 2);
    assert.equal(latest.code, JS);
    const v1 = await grpcCall(grpc.functions, "GetFunction", { name, version: 1 });
    assert.equal(v1.runtime, "python3.13", "the alias resolved to the exact runtime at deploy");
    const list = await grpcCall(grpc.functions, "ListFunctions", {});
    assert.ok(list.functions.some((f: { name: string; version: number }) => f.name === name && f.version === 2));

    const deleted = await grpcCall(grpc.functions, "DeleteFunction", { name });
    assert.deepEqual(deleted, { name, deleted: true });
    const gone = await grpcError(invoke({ name, event: toProtoValue({}, "event") }));
    assert.equal(gone.code, GrpcStatus.NOT_FOUND);
    assert.equal((await grpcError(grpcCall(grpc.functions, "GetFunction", { name }))).code, GrpcStatus.NOT_FOUND);
  });

  test("metrics come from the controller", async () => {
    const name = uniqueName("gmetrics");
    await put(name);
    const m = await grpcCall(grpc.functions, "GetMetrics", { name, windowMs: 60_000 });
    assert.equal(m.functionName, name);
    assert.equal(m.windowMs, 60_000);
    assert.equal(m.count, 2);
    assert.equal(m.durationMs.p50, 1.5);
  });
});

describe("InvocationService", () => {
  test("Invoke: the result object, with any JSON event and output as plain values", async () => {
    const name = uniqueName("ginv");
    await put(name);
    const event = { name: "weft", n: 1.5, list: [true, null, "x", { deep: [] }], empty: {} };
    const res = await invoke({ name, event: toProtoValue(event, "event") });
    assert.equal(res.status, "ok");
    assert.equal(res.functionName, name);
    assert.deepEqual(fromProtoValue(res.output, "output"), { echo: event });
    const job = responder.jobs.find((j) => j.headers[HEADERS.invocationId] === res.invocationId)!;
    assert.deepEqual(JSON.parse(job.data), event);
  });

  test("Invoke without an event sends {}; a pinned version travels in Weft-Version", async () => {
    const name = uniqueName("gpin");
    await put(name);
    await put(name);
    const res = await invoke({ name, version: 1 });
    assert.deepEqual(fromProtoValue(res.output, "output"), { echo: {} });
    assert.equal(responder.jobs.find((j) => j.headers[HEADERS.invocationId] === res.invocationId)!.headers[HEADERS.version], "1");
  });

  test("InvokeAsync: queued; GetInvocation and ListInvocations read the record back", async () => {
    const name = uniqueName("gasync");
    await put(name);
    const accepted = await grpcCall(grpc.invocations, "InvokeAsync", { name, event: toProtoValue({ later: true }, "event") });
    assert.equal(accepted.status, "queued");
    await until(() => controller.records.has(accepted.invocationId), "the queued record");
    const record = await grpcCall(grpc.invocations, "GetInvocation", { invocationId: accepted.invocationId });
    assert.equal(record.functionName, name);
    assert.equal(record.async, true);
    assert.deepEqual(fromProtoValue(record.event, "event"), { later: true });
    const list = await grpcCall(grpc.invocations, "ListInvocations", { name, limit: 1 });
    assert.equal(list.invocations.length, 1);
    assert.equal(list.invocations[0].invocationId, accepted.invocationId);
  });

  test("a sync call that outlives the wait is DEADLINE_EXCEEDED with weft-invocation-id", async () => {
    const other = await startGateway(
      loadGatewayConfig({ WEFT_NATS_URL: g.nats.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0", WEFT_SYNC_WAIT_MS: "300" }),
      testLog("gateway-2"),
    );
    const clients = grpcClients(`127.0.0.1:${other.grpcPort}`);
    try {
      const name = uniqueName("gslow");
      await put(name);
      await until(async () => (await grpcError(grpcCall(clients.invocations, "Invoke", { name: uniqueName("warm") }))).code === GrpcStatus.NOT_FOUND, "second gateway");
      const err = await grpcError(grpcCall(clients.invocations, "Invoke", { name, event: toProtoValue({ noReply: true }, "event") }));
      assert.equal(err.code, GrpcStatus.DEADLINE_EXCEEDED);
      const id = String(err.metadata.get("weft-invocation-id")[0]);
      assert.ok(responder.jobs.some((j) => j.headers[HEADERS.invocationId] === id), "the named invocation was queued");
    } finally {
      clients.close();
      await other.stop();
    }
  });
});

describe("errors", () => {
  test("bad input is INVALID_ARGUMENT naming the field in the message and in weft-error-field", async () => {
    const name = uniqueName("gbad");
    const spec = { runtime: "python3", code: "def handler(e, c):\n    return 1\n" };
    const cases: Array<[string, () => Promise<unknown>, string]> = [
      ["bad name", () => put("Bad_Name", spec), "name"],
      ["no name", () => put("", spec), "name"],
      ["no spec", () => grpcCall(grpc.functions, "PutFunction", { name }), "spec"],
      ["runtime", () => put(name, { ...spec, runtime: "cobol" }), "runtime"],
      ["no runtime", () => put(name, { code: spec.code }), "runtime"],
      ["no code", () => put(name, { runtime: "python3" }), "code"],
      ["timeout 0", () => put(name, { ...spec, limits: { timeoutMs: 0 } }), "limits.timeoutMs"],
      ["memory", () => put(name, { ...spec, limits: { memoryMb: 1_000_000_000 } }), "limits.memoryMb"],
      ["isolation", () => put(name, { ...spec, isolation: "kvm" }), "isolation"],
      ["name mismatch", () => put(name, { ...spec, name: "other" }), "name"],
      ["version 0", () => invoke({ name, version: 0 }), "version"],
      ["invoke bad name", () => invoke({ name: "Nope" }), "name"],
      ["get no id", () => grpcCall(grpc.invocations, "GetInvocation", {}), "invocationId"],
      ["list limit 0", () => grpcCall(grpc.invocations, "ListInvocations", { name, limit: 0 }), "limit"],
      ["metrics window", () => grpcCall(grpc.functions, "GetMetrics", { name, windowMs: 1 }), "windowMs"],
      ["NaN in event", () => invoke({ name, event: { numberValue: Number.NaN } }), "event"],
    ];
    for (const [what, call, field] of cases) {
      const err = await grpcError(call());
      assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT, `${what}: ${err.details}`);
      assert.equal(err.weftCode, "INVALID_ARGUMENT", what);
      assert.equal(err.weftField, field, `${what}: ${err.details}`);
      assert.ok(err.details.startsWith(`${field}:`), `${what}: the message names the field: ${err.details}`);
    }
  });

  test("unknown function is NOT_FOUND; an event over 6 MB is RESOURCE_EXHAUSTED; the server stays up", async () => {
    const missing = await grpcError(invoke({ name: uniqueName("nope"), event: toProtoValue({}, "event") }));
    assert.equal(missing.code, GrpcStatus.NOT_FOUND);
    assert.equal(missing.weftCode, "NOT_FOUND");

    const name = uniqueName("gbig");
    await put(name);
    const big = await grpcError(invoke({ name, event: toProtoValue({ pad: "x".repeat(LIMITS.payloadBytes) }, "event") }));
    assert.equal(big.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(big.weftCode, "PAYLOAD_TOO_LARGE");
    assert.equal(big.weftField, "event");
    const huge = await grpcError(invoke({ name, event: toProtoValue({ pad: "x".repeat(13 * 1024 * 1024) }, "event") }));
    assert.equal(huge.code, GrpcStatus.RESOURCE_EXHAUSTED, "a message over the server's receive limit");
    const bigCode = await grpcError(put(name, { runtime: "nodejs", code: "x".repeat(LIMITS.codeBytes + 1) }));
    assert.equal(bigCode.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(bigCode.weftField, "code");

    const ok = await invoke({ name, event: toProtoValue({ after: 1 }, "event") });
    assert.equal(ok.status, "ok");
  });

  test("controller absent: PutFunction is UNAVAILABLE, Invoke goes on", async () => {
    const name = uniqueName("gnoctl");
    await put(name);
    controller.stop();
    try {
      const err = await grpcError(put(name));
      assert.equal(err.code, GrpcStatus.UNAVAILABLE);
      assert.equal(err.weftCode, "UNAVAILABLE");
      assert.equal((await invoke({ name })).status, "ok");
    } finally {
      controller = await new FakeController(g.nc, g.kv).start();
    }
  });
});

/** grpcurl is a test prerequisite: deploy/services.sh --for-tests installs it and puts it on PATH. */
const GRPCURL = process.env.WEFT_GRPCURL_BIN ?? "grpcurl";

describe("server reflection", () => {
  const reflectionProto = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "../proto/grpc/reflection/v1/reflection.proto");

  /** One request on the reflection stream, as grpcurl makes them. */
  async function reflect(request: Record<string, unknown>): Promise<any> {
    const pkg = loadPackageDefinition(loadSync(reflectionProto, { keepCase: false, oneofs: true })) as any;
    const client = new pkg.grpc.reflection.v1.ServerReflection(g.grpcAddress, credentials.createInsecure());
    try {
      const call: ClientDuplexStream<unknown, any> = client.ServerReflectionInfo();
      const answer = new Promise<any>((resolve, reject) => {
        call.once("data", resolve);
        call.once("error", reject);
      });
      call.write(request);
      const response = await answer;
      call.end();
      return response;
    } finally {
      client.close();
    }
  }

  test("lists both services without the .proto", async () => {
    const res = await reflect({ listServices: "*" });
    const names = res.listServicesResponse.service.map((s: { name: string }) => s.name);
    assert.ok(names.includes("weft.v1.FunctionService"), names.join());
    assert.ok(names.includes("weft.v1.InvocationService"), names.join());
  });

  test("serves descriptors a generic client can build the types from, imports included", async () => {
    const res = await reflect({ fileContainingSymbol: "weft.v1.InvocationService" });
    const files = (res.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((b) => descriptorExt.FileDescriptorProto.decode(b) as any);
    const weft = files.find((f) => f.name === "weft/v1/weft.proto");
    assert.ok(weft, files.map((f) => f.name).join());
    assert.deepEqual(weft.dependency, ["google/protobuf/struct.proto"]);
    assert.ok(files.some((f) => f.name === "google/protobuf/struct.proto"), "the import is served with it");

    const spec = weft.messageType.find((m: any) => m.name === "FunctionSpec");
    assert.equal(spec.nestedType[0].name, "EnvEntry", "map entries are named as protoc names them");
    assert.equal(spec.field.find((f: any) => f.name === "min_warm").proto3Optional, true);

    const root = (protobuf.Root as any).fromDescriptor({ file: files });
    const event = root.lookupType("weft.v1.InvokeRequest").fields.event.resolve();
    assert.equal(event.resolvedType.fullName, ".google.protobuf.Value");
  });

  test("grpcurl calls Invoke with a plain JSON event through reflection", async () => {
    const name = uniqueName("gcurl");
    await put(name);
    const run = promisify(execFile);
    const { stdout } = await run(GRPCURL, ["-plaintext", "-d", JSON.stringify({ name, event: { a: [1, "b"] } }), g.grpcAddress, "weft.v1.InvocationService/Invoke"]);
    assert.deepEqual(JSON.parse(stdout).output, { echo: { a: [1, "b"] } });
  });
});
