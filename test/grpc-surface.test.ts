// The gRPC versions of the HTTP API's newer request/response routes, on the real fabric (controller, agent, MongoDB):
// agents, versions (list, delete), the invocation history, logs (and their follow stream), metrics over time and
// aliases. The same answers as HTTP, and the same errors: the gRPC status, `weft-error-code` and the field named.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { credentials, loadPackageDefinition, Metadata, status as GrpcStatus, type ClientReadableStream } from "@grpc/grpc-js";
import { loadWeftProto } from "../gateway/proto.js";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { grpcCall, grpcError } from "./gateway-fixtures.js";

const CODE = "def handler(event, context):\n    print('hello', event.get('n'))\n    return event.get('n')\n";
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

let fabric: Fabric;
let clients: Record<"functions" | "invocations" | "aliases" | "agents", any>;

before(async () => {
  fabric = await startFabric({ agentEnv: { WEFT_STEM_RUNTIMES: "python3", WEFT_STEM_ISOLATIONS: "runc" } });
  const pkg = loadPackageDefinition(loadWeftProto()) as any;
  const make = (service: string) => new pkg.weft.v1[service](fabric.grpcAddress, credentials.createInsecure());
  clients = { functions: make("FunctionService"), invocations: make("InvocationService"), aliases: make("AliasService"), agents: make("AgentService") };
});

after(async () => {
  for (const c of Object.values(clients ?? {})) c.close();
  await fabric?.stop();
});

async function deployed(name: string, versions = 1): Promise<void> {
  for (let i = 0; i < versions; i++) {
    const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "python3", code: CODE });
    assert.ok(res.status < 300, JSON.stringify(res.body));
  }
}

async function expectStatus(p: Promise<unknown>, code: number, weftCode: string, field?: string): Promise<void> {
  const e = await grpcError(p);
  assert.equal(e.code, code, e.details);
  assert.equal(e.weftCode, weftCode, e.details);
  if (field !== undefined) assert.equal(e.weftField, field, e.details);
}

describe("AgentService", () => {
  test("ListAgents and GetAgent show what GET /v1/agents shows; an unknown agent is NOT_FOUND", async () => {
    const { agents } = await grpcCall(clients.agents, "ListAgents", {});
    assert.ok(agents.length >= 1);
    const viaHttp = (await http(fabric.httpUrl, "GET", "/v1/agents")).body.agents;
    assert.deepEqual(agents.map((a: any) => a.agentId).sort(), viaHttp.map((a: any) => a.agentId).sort());
    const one = await grpcCall(clients.agents, "GetAgent", { id: agents[0].agentId });
    assert.equal(one.agentId, agents[0].agentId);
    assert.equal(one.slots, viaHttp.find((a: any) => a.agentId === one.agentId).slots);
    assert.ok(one.pools.length >= 1 && typeof one.pools[0].runtime === "string");
    await expectStatus(grpcCall(clients.agents, "GetAgent", { id: "nope" }), GrpcStatus.NOT_FOUND, "NOT_FOUND");
    await expectStatus(grpcCall(clients.agents, "GetAgent", {}), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "id");
  });
});

describe("FunctionService: versions and metrics over time", () => {
  test("ListVersions, DeleteVersion (NOT_FOUND after; ABORTED for the latest), GetMetricsSeries of one function and of the fabric", async () => {
    const name = uniqueName("gv");
    await deployed(name, 3);
    const listed = await grpcCall(clients.functions, "ListVersions", { name });
    assert.equal(listed.latestVersion, 3);
    assert.deepEqual(listed.versions.map((v: any) => v.version), [3, 2, 1]);
    assert.match(listed.versions[0].runtime, /^python3\.\d+$/, "a version records the exact runtime the alias meant");
    assert.deepEqual(await grpcCall(clients.functions, "DeleteVersion", { name, version: 1 }), { name, version: 1, deleted: true });
    await expectStatus(grpcCall(clients.functions, "DeleteVersion", { name, version: 1 }), GrpcStatus.NOT_FOUND, "NOT_FOUND");
    await expectStatus(grpcCall(clients.functions, "DeleteVersion", { name, version: 3 }), GrpcStatus.ABORTED, "CONFLICT");
    await expectStatus(grpcCall(clients.functions, "ListVersions", { name: "Bad_Name" }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "name");
    await expectStatus(grpcCall(clients.functions, "ListVersions", { name: uniqueName("never") }), GrpcStatus.NOT_FOUND, "NOT_FOUND");

    await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 1 });
    const series = await eventually(async () => {
      const s = await grpcCall(clients.functions, "GetMetricsSeries", { name, windowMs: 900_000 });
      return s.totals.count >= 1 ? s : undefined;
    }, "the invocation in the series");
    assert.equal(series.functionName, name);
    assert.equal(series.buckets.length, 15);
    assert.equal(series.stepMs, 60_000);
    const fabricWide = await grpcCall(clients.functions, "GetMetricsSeries", { windowMs: 3_600_000 });
    assert.equal(fabricWide.functionName, undefined);
    assert.ok(fabricWide.functions.some((f: any) => f.functionName === name));
    await expectStatus(grpcCall(clients.functions, "GetMetricsSeries", { name, windowMs: 5 }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "windowMs");
  });
});

describe("AliasService", () => {
  test("PutAlias (with weights), GetAlias, ListAliases, DeleteAlias; bad specs and unknown versions get the HTTP errors", async () => {
    const name = uniqueName("ga");
    await deployed(name, 2);
    const put = await grpcCall(clients.aliases, "PutAlias", { name, alias: "prod", spec: { version: 1, weights: { "2": 0.25 } } });
    assert.equal(put.version, 1);
    assert.deepEqual(put.weights, { "2": 0.25 });
    assert.equal((await grpcCall(clients.aliases, "GetAlias", { name, alias: "prod" })).functionName, name);
    assert.deepEqual((await grpcCall(clients.aliases, "ListAliases", { name })).aliases.map((a: any) => a.name), ["prod"]);
    await expectStatus(grpcCall(clients.functions, "DeleteVersion", { name, version: 1 }), GrpcStatus.ABORTED, "CONFLICT");
    await expectStatus(grpcCall(clients.aliases, "PutAlias", { name, alias: "prod", spec: { version: 9 } }), GrpcStatus.NOT_FOUND, "NOT_FOUND");
    await expectStatus(grpcCall(clients.aliases, "PutAlias", { name, alias: "prod", spec: { version: 1, weights: { "2": 2 } } }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    await expectStatus(grpcCall(clients.aliases, "PutAlias", { name, alias: "prod" }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "spec");
    await expectStatus(grpcCall(clients.aliases, "PutAlias", { name, alias: "9lives", spec: { version: 1 } }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "alias");
    assert.deepEqual(await grpcCall(clients.aliases, "DeleteAlias", { name, alias: "prod" }), { name, alias: "prod", deleted: true });
    await expectStatus(grpcCall(clients.aliases, "GetAlias", { name, alias: "prod" }), GrpcStatus.NOT_FOUND, "NOT_FOUND");
  });
});

describe("InvocationService: history and logs", () => {
  test("QueryInvocations pages like GET /v1/invocations; GetLogs answers the lines; bad filters name their field", async () => {
    const name = uniqueName("gq");
    await deployed(name);
    for (const n of [1, 2, 3]) await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n });
    const first = await eventually(async () => {
      const page = await grpcCall(clients.invocations, "QueryInvocations", { function: name, status: "ok", limit: 2 });
      return page.invocations.length === 2 && page.next ? page : undefined;
    }, "two pages of records");
    assert.deepEqual(first.invocations.map((r: any) => r.output.numberValue), [3, 2]);
    const second = await grpcCall(clients.invocations, "QueryInvocations", { function: name, limit: 2, before: first.next });
    assert.deepEqual(second.invocations.map((r: any) => r.output.numberValue), [1]);
    assert.equal(second.next, undefined);
    await expectStatus(grpcCall(clients.invocations, "QueryInvocations", { status: "done" }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "status");
    await expectStatus(grpcCall(clients.invocations, "QueryInvocations", { limit: 0 }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "limit");
    await expectStatus(grpcCall(clients.invocations, "QueryInvocations", { before: "yesterday" }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "before");

    const logs = await eventually(async () => {
      const page = await grpcCall(clients.invocations, "GetLogs", { name, since: "10m" });
      return page.lines.length === 3 ? page : undefined;
    }, "three log lines");
    assert.deepEqual(logs.lines.map((l: any) => l.line), ["hello 1", "hello 2", "hello 3"]);
    assert.equal(logs.lines[2].invocationId, first.invocations[0].invocationId);
    assert.equal(logs.lines[2].status, "ok");
    assert.deepEqual((await grpcCall(clients.invocations, "GetLogs", { name, limit: 1 })).lines.map((l: any) => l.line), ["hello 3"]);
    await expectStatus(grpcCall(clients.invocations, "GetLogs", { name, since: "soon" }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "since");
    await expectStatus(grpcCall(clients.invocations, "GetLogs", { name, status: "queued" }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "status");
    await expectStatus(grpcCall(clients.invocations, "GetLogs", { name, limit: 5000 }), GrpcStatus.INVALID_ARGUMENT, "INVALID_ARGUMENT", "limit");
    await expectStatus(grpcCall(clients.invocations, "GetLogs", { name: uniqueName("never") }), GrpcStatus.NOT_FOUND, "NOT_FOUND");
  });

  test("FollowLogs streams each new invocation's lines until the client cancels; bad input ends the stream with the error", async () => {
    const name = uniqueName("gf");
    await deployed(name);
    const stream: ClientReadableStream<any> = clients.invocations.FollowLogs({ name }, new Metadata());
    const pages: any[] = [];
    stream.on("data", (p) => pages.push(p));
    const ended = new Promise<any>((resolve) => stream.on("error", resolve));
    // The stream has no "subscribed" message: calls are made until one's lines arrive, then the next must too.
    const made: string[] = [];
    const first = await eventually(async () => {
      const seen = pages.find((p) => made.includes(p.lines[0]?.invocationId));
      if (seen) return seen;
      made.push((await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 7 })).body.invocationId);
      return undefined;
    }, "a followed invocation", 15_000, 200);
    assert.equal(first.lines[0].line, "hello 7");
    assert.equal(first.lines[0].status, "ok");
    const next = (await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 8 })).body;
    await eventually(async () => (pages.some((p) => p.lines[0]?.invocationId === next.invocationId) ? true : undefined), "the next invocation's lines", 5000, 20);
    stream.cancel();
    assert.equal((await ended).code, GrpcStatus.CANCELLED);

    for (const [request, code, field] of [
      [{ name: uniqueName("never") }, GrpcStatus.NOT_FOUND, undefined],
      [{ name, status: "running" }, GrpcStatus.INVALID_ARGUMENT, "status"],
      [{ name: "" }, GrpcStatus.INVALID_ARGUMENT, "name"],
    ] as const) {
      const bad: ClientReadableStream<any> = clients.invocations.FollowLogs(request, new Metadata());
      const err = await new Promise<any>((resolve) => bad.on("error", resolve));
      assert.equal(err.code, code, err.details);
      if (field) assert.equal(err.metadata.get("weft-error-field")[0], field);
    }
  });
});

test("grpcurl lists the new services through reflection", async () => {
  const bin = process.env.WEFT_GRPCURL_BIN ?? "grpcurl";
  const { stdout } = await promisify(execFile)(bin, ["-plaintext", fabric.grpcAddress, "list"]);
  for (const service of ["weft.v1.AgentService", "weft.v1.AliasService", "weft.v1.FunctionService", "weft.v1.InvocationService"]) assert.match(stdout, new RegExp(service));
  const { stdout: described } = await promisify(execFile)(bin, ["-plaintext", fabric.grpcAddress, "describe", "weft.v1.InvocationService"]);
  assert.match(described, /rpc FollowLogs \( \.weft\.v1\.FollowLogsRequest \) returns \( stream \.weft\.v1\.LogPage \)/);
});
