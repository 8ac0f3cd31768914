// Events nested to the documented limit (LIMITS.jsonDepth levels of arrays and objects) run on both runtimes, through
// all three front doors, and come back intact; one level more is refused by the gateway before any runner sees it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LIMITS } from "../shared/limits.js";
import { invokeSubject } from "../shared/subjects.js";
import { fromProtoValue, toProtoValue } from "../gateway/json-value.js";
import { http, startFabric, type Fabric } from "./harness/fabric.js";
import { grpcCall, grpcClients, type GrpcClients } from "./gateway-fixtures.js";

const ECHO = {
  python3: "def handler(event, context):\n    return event\n",
  nodejs: "exports.handler = async (event) => event\n",
} as const;

let fabric: Fabric;
let nc: NatsConnection;
let grpc: GrpcClients;

before(async () => {
  fabric = await startFabric();
  nc = await connect({ servers: fabric.nats.url });
  grpc = grpcClients(fabric.grpcAddress);
});

after(async () => {
  grpc?.close();
  await nc?.close();
  await fabric?.stop();
});

function nested(depth: number, kind: "array" | "object"): unknown {
  let v: unknown = "leaf";
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { k: v };
  return v;
}

for (const runtime of ["python3", "nodejs"] as const) {
  describe(`${runtime}: an event ${LIMITS.jsonDepth} levels deep`, () => {
    const name = `deep-${runtime}-${randomBytes(3).toString("hex")}`;
    before(async () => {
      const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime, code: ECHO[runtime] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    });

    for (const kind of ["array", "object"] as const) {
      test(`${kind}s: runs and comes back intact over HTTP, gRPC and NATS`, async () => {
        const event = nested(LIMITS.jsonDepth, kind);
        const viaHttp = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, event);
        assert.equal(viaHttp.status, 200);
        assert.equal(viaHttp.body.status, "ok", JSON.stringify(viaHttp.body.error));
        assert.deepEqual(viaHttp.body.output, event);

        const viaGrpc = await grpcCall(grpc.invocations, "Invoke", { name, event: toProtoValue(event, "event") });
        assert.equal(viaGrpc.status, "ok", JSON.stringify(viaGrpc.error));
        assert.deepEqual(fromProtoValue(viaGrpc.output, "output"), event);

        const viaNats = (await nc.request(invokeSubject(name), JSON.stringify(event), { timeout: 30_000 })).json<any>();
        assert.equal(viaNats.status, "ok", JSON.stringify(viaNats.error));
        assert.deepEqual(viaNats.output, event);
      });
    }

    test("one level more is refused by the gateway with 400 naming event", async () => {
      const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, nested(LIMITS.jsonDepth + 1, "array"));
      assert.equal(res.status, 400);
      assert.equal(res.body.error.field, "event");
    });
  });
}
