// gRPC against the real fabric (real controller, agent, MongoDB): CRUD with versions, sync and async invoke,
// the record read back, and errors as gRPC status codes naming the field.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { eventually, startFabric, type Fabric } from "./harness/fabric.js";
import { loadWeftProto, toProtoValue } from "./bench/grpc-client.js";

let fabric: Fabric;
let functions: any;
let invocations: any;

/** Calls a unary method and resolves with [error, response, trailing metadata]. */
function call(client: any, method: string, req: unknown): Promise<{ err: ServiceError | null; res: any }> {
  return new Promise((resolve) => client[method](req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
}

before(async () => {
  fabric = await startFabric();
  const weft = loadWeftProto();
  functions = new weft.FunctionService(fabric.grpcAddress, credentials.createInsecure());
  invocations = new weft.InvocationService(fabric.grpcAddress, credentials.createInsecure());
});

after(async () => {
  functions?.close();
  invocations?.close();
  await fabric?.stop();
});

test("gRPC: put twice makes v1 then v2, get/list, invoke latest and pinned, async + record, delete", async () => {
  const name = `grpc-${randomBytes(3).toString("hex")}`;
  const v1 = await call(functions, "PutFunction", { name, spec: { runtime: "python3", code: "def handler(e, c):\n    return {'v': 1, 'e': e}\n" } });
  assert.equal(v1.err, null);
  assert.equal(v1.res.function.version, 1);
  assert.equal(v1.res.created, true);
  const v2 = await call(functions, "PutFunction", { name, spec: { runtime: "nodejs", code: "exports.handler = async (e) => ({ v: 2, e })" } });
  assert.equal(v2.res.function.version, 2);
  assert.equal(v2.res.created, false);

  const got = await call(functions, "GetFunction", { name });
  assert.equal(got.res.version, 2);
  assert.equal(got.res.runtime, "nodejs20", "the alias resolved to the exact runtime at deploy");
  const list = await call(functions, "ListFunctions", {});
  assert.ok(list.res.functions.some((f: any) => f.name === name && f.version === 2));

  const latest = await call(invocations, "Invoke", { name, event: toProtoValue({ x: 1 }) });
  assert.equal(latest.err, null);
  assert.equal(latest.res.status, "ok");
  assert.equal(latest.res.output.structValue.fields.v.numberValue, 2);
  assert.equal(latest.res.output.structValue.fields.e.structValue.fields.x.numberValue, 1);
  const pinned = await call(invocations, "Invoke", { name, version: 1, event: toProtoValue({ x: 1 }) });
  assert.equal(pinned.res.version, 1);
  assert.equal(pinned.res.output.structValue.fields.v.numberValue, 1);

  const accepted = await call(invocations, "InvokeAsync", { name, event: toProtoValue({ later: true }) });
  assert.equal(accepted.err, null);
  assert.ok(accepted.res.invocationId);
  const record = await eventually(async () => {
    const r = await call(invocations, "GetInvocation", { invocationId: accepted.res.invocationId });
    return r.res?.status === "ok" ? r.res : undefined;
  }, "the async invocation's record over gRPC");
  assert.equal(record.functionName, name);
  assert.equal(record.event.structValue.fields.later.boolValue, true);

  const deleted = await call(functions, "DeleteFunction", { name });
  assert.equal(deleted.err, null);
  const gone = await call(invocations, "Invoke", { name, event: toProtoValue({}) });
  assert.equal(gone.err?.code, GrpcStatus.NOT_FOUND);
});

test("gRPC: bad input gets INVALID_ARGUMENT naming the field, unknown things NOT_FOUND, big events RESOURCE_EXHAUSTED", async () => {
  const name = `grpcbad-${randomBytes(3).toString("hex")}`;
  const cases: Array<[any, string, unknown, GrpcStatus, string | undefined]> = [
    [functions, "PutFunction", { name: "Bad_Name", spec: { runtime: "python3", code: "x" } }, GrpcStatus.INVALID_ARGUMENT, "name"],
    [functions, "PutFunction", { name, spec: { runtime: "cobol", code: "x" } }, GrpcStatus.INVALID_ARGUMENT, "runtime"],
    [functions, "PutFunction", { name, spec: { runtime: "python3", code: "" } }, GrpcStatus.INVALID_ARGUMENT, "code"],
    [functions, "PutFunction", { name, spec: { runtime: "python3", code: "def handler(e, c): return 1", limits: { memoryMb: 1 } } }, GrpcStatus.INVALID_ARGUMENT, "limits.memoryMb"],
    [functions, "GetFunction", { name }, GrpcStatus.NOT_FOUND, undefined],
    [invocations, "GetInvocation", { invocationId: "nope" }, GrpcStatus.NOT_FOUND, undefined],
  ];
  for (const [client, method, req, code, field] of cases) {
    const { err } = await call(client, method, req);
    assert.equal(err?.code, code, `${method} ${JSON.stringify(req)}: ${err?.message}`);
    if (field) assert.equal(err?.metadata.get("weft-error-field")[0], field, err?.message);
  }
  await call(functions, "PutFunction", { name, spec: { runtime: "nodejs", code: "exports.handler = async () => 1" } });
  const big = await call(invocations, "Invoke", { name, event: toProtoValue({ s: "x".repeat(6 * 1024 * 1024 + 1) }) });
  assert.equal(big.err?.code, GrpcStatus.RESOURCE_EXHAUSTED, big.err?.message);
  const fine = await call(invocations, "Invoke", { name, event: toProtoValue({}) });
  assert.equal(fine.res.status, "ok", "the gateway is unharmed");
});
