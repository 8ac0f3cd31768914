// Aliases and deleting one version, on the real fabric: HTTP, gRPC (field alias) and NATS (header Weft-Alias).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { loadWeftProto, toProtoValue } from "./bench/grpc-client.js";
import { invokeSubject } from "../shared/subjects.js";
import { HEADERS } from "../shared/headers.js";

let fabric: Fabric;
let nc: NatsConnection;
let invocations: any;

before(async () => {
  fabric = await startFabric();
  nc = await connect({ servers: fabric.nats.url });
  invocations = new (loadWeftProto().InvocationService)(fabric.grpcAddress, credentials.createInsecure());
});

after(async () => {
  invocations?.close();
  await nc?.close();
  await fabric?.stop();
});

const api = (method: string, path: string, body?: unknown) => http(fabric.httpUrl, method, path, body);
const codeReturning = (v: number) => `def handler(event, context):\n    return ${v}\n`;

async function deployVersions(name: string, n: number): Promise<void> {
  for (let v = 1; v <= n; v++) assert.equal((await api("PUT", `/v1/functions/${name}`, { runtime: "python3", code: codeReturning(v) })).body.version, v);
}

function grpcInvoke(req: unknown): Promise<{ err: ServiceError | null; res: any }> {
  return new Promise((resolve) => invocations.Invoke(req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
}

test("an alias runs its version over HTTP, gRPC and NATS; weights split the calls; the record says which version ran", async () => {
  const name = `alias-${randomBytes(3).toString("hex")}`;
  await deployVersions(name, 3);

  const put = await api("PUT", `/v1/functions/${name}/aliases/prod`, { version: 1 });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.deepEqual({ name: put.body.name, functionName: put.body.functionName, version: put.body.version, weights: put.body.weights }, { name: "prod", functionName: name, version: 1, weights: {} });
  assert.equal((await api("GET", `/v1/functions/${name}/aliases/prod`)).body.version, 1);
  assert.deepEqual((await api("GET", `/v1/functions/${name}/aliases`)).body.aliases.map((a: { name: string }) => a.name), ["prod"]);

  const viaHttp = await api("POST", `/v1/functions/${name}/invoke?alias=prod`, {});
  assert.equal(viaHttp.body.output, 1);
  assert.equal(viaHttp.body.version, 1);
  const record = await eventually(async () => {
    const r = await api("GET", `/v1/invocations/${viaHttp.body.invocationId}`);
    return r.status === 200 && r.body.status === "ok" ? r.body : undefined;
  }, "the record");
  assert.equal(record.version, 1);

  const viaGrpc = await grpcInvoke({ name, alias: "prod", event: toProtoValue({}) });
  assert.equal(viaGrpc.err, null);
  assert.equal(viaGrpc.res.version, 1);

  const h = headers();
  h.set(HEADERS.alias, "prod");
  const viaNats = (await nc.request(invokeSubject(name), "{}", { headers: h, timeout: 30_000 })).json<{ version: number; output: number }>();
  assert.equal(viaNats.output, 1);

  // Moved, with a canary: half the calls run version 3, the rest version 2 (this gateway forgets its copy at once).
  assert.equal((await api("PUT", `/v1/functions/${name}/aliases/prod`, { version: 2, weights: { "3": 0.5 } })).status, 200);
  const ran = { 1: 0, 2: 0, 3: 0 } as Record<number, number>;
  for (let i = 0; i < 40; i++) {
    const r = await api("POST", `/v1/functions/${name}/invoke?alias=prod`, {});
    assert.equal(r.body.output, r.body.version);
    ran[r.body.version]!++;
  }
  assert.equal(ran[1], 0);
  // Binomial(40, 0.5): outside 8..32 has a probability near 1e-4.
  assert.ok(ran[3]! >= 8 && ran[3]! <= 32, JSON.stringify(ran));

  const badHeader = headers();
  badHeader.set(HEADERS.alias, "9lives");
  const refused = await nc.request(invokeSubject(name), "{}", { headers: badHeader, timeout: 30_000 });
  assert.equal(refused.headers?.get(HEADERS.errorCode), "INVALID_ARGUMENT");
  const grpcMissing = await grpcInvoke({ name, alias: "nope", event: toProtoValue({}) });
  assert.match(grpcMissing.err?.details ?? "", /alias nope/);
});

test("aliases are checked: versions must exist, weights add up to less than 1, names start with a letter", async () => {
  const name = `alias-bad-${randomBytes(3).toString("hex")}`;
  await deployVersions(name, 2);
  const cases: Array<[string, unknown, number, string | undefined]> = [
    ["prod", { version: 9 }, 404, undefined],
    ["prod", { version: 1, weights: { "9": 0.1 } }, 400, "weights"],
    ["prod", { version: 1, weights: { "2": 1 } }, 400, "weights.2"],
    ["prod", { version: 1, weights: { "2": 0.6, "1": 0.5 } }, 400, "weights"],
    ["prod", { version: 1, extra: true }, 400, undefined],
    ["prod", { version: "1" }, 400, "version"],
    ["1abc", { version: 1 }, 400, "alias"],
  ];
  for (const [alias, body, status, field] of cases) {
    const r = await api("PUT", `/v1/functions/${name}/aliases/${alias}`, body);
    assert.equal(r.status, status, `${alias} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    if (field) assert.equal(r.body.error.field, field, JSON.stringify(r.body));
  }
  assert.equal((await api("GET", `/v1/functions/${name}/aliases/prod`)).status, 404);
  assert.equal((await api("POST", `/v1/functions/${name}/invoke?alias=prod`, {})).status, 404);
  assert.equal((await api("POST", `/v1/functions/${name}/invoke?alias=prod&version=1`, {})).status, 400);
  assert.equal((await api("PUT", `/v1/functions/nope-${name}/aliases/prod`, { version: 1 })).status, 404);
});

test("deleting a version: 404 afterwards, 409 while an alias can run it or when it is the latest; aliases end with the incarnation", async () => {
  const name = `alias-del-${randomBytes(3).toString("hex")}`;
  await deployVersions(name, 3);
  assert.equal((await api("PUT", `/v1/functions/${name}/aliases/live`, { version: 1, weights: { "2": 0.2 } })).status, 200);

  for (const v of [1, 2]) {
    const refused = await api("DELETE", `/v1/functions/${name}/versions/${v}`);
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(refused.body.error.message, /alias live/);
  }
  assert.equal((await api("DELETE", `/v1/functions/${name}/versions/3`)).status, 409, "the latest version stays");

  assert.equal((await api("PUT", `/v1/functions/${name}/aliases/live`, { version: 1 })).status, 200);
  const deleted = await api("DELETE", `/v1/functions/${name}/versions/2`);
  assert.equal(deleted.status, 200);
  assert.deepEqual(deleted.body, { name, version: 2, deleted: true });
  assert.equal((await api("GET", `/v1/functions/${name}?version=2`)).status, 404);
  assert.equal((await api("POST", `/v1/functions/${name}/invoke?version=2`, {})).status, 404);
  assert.equal((await api("DELETE", `/v1/functions/${name}/versions/2`)).status, 404);
  assert.equal((await api("PUT", `/v1/functions/${name}/aliases/live`, { version: 2 })).status, 404, "an alias cannot point to it again");
  assert.equal((await api("POST", `/v1/functions/${name}/invoke?version=1`, {})).body.output, 1, "the others remain");

  assert.equal((await api("DELETE", `/v1/functions/${name}/aliases/live`)).status, 200);
  assert.equal((await api("GET", `/v1/functions/${name}/aliases/live`)).status, 404);
  assert.equal((await api("DELETE", `/v1/functions/${name}/aliases/live`)).status, 404);

  // A re-created function has none of the deleted one's aliases.
  assert.equal((await api("PUT", `/v1/functions/${name}/aliases/old`, { version: 1 })).status, 200);
  assert.equal((await api("DELETE", `/v1/functions/${name}`)).status, 200);
  await deployVersions(name, 1);
  assert.equal((await api("GET", `/v1/functions/${name}/aliases/old`)).status, 404);
  assert.deepEqual((await api("GET", `/v1/functions/${name}/aliases`)).body.aliases, []);
  assert.equal((await api("POST", `/v1/functions/${name}/invoke?alias=old`, {})).status, 404);
});
