// One invocation is one trace: the gateway's span and the agent's span share a trace id, carried in NATS
// headers, and the invocation record names the same trace. Spans are exported over OTLP/HTTP (JSON) to a
// receiver in this test, configured only through the standard OTEL_* variables.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { randomBytes } from "node:crypto";
import { startTelemetry, type Telemetry } from "../shared/telemetry.js";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";

interface ExportedSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; scope: string }

const spans: ExportedSpan[] = [];
let receiver: Server;
let telemetry: Telemetry;
let fabric: Fabric;

function collect(body: any): void {
  for (const rs of body.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId, name: s.name, scope: ss.scope?.name });
    }
  }
}

before(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      collect(JSON.parse(Buffer.concat(chunks).toString() || "{}"));
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  const port = (receiver.address() as { port: number }).port;
  // The OpenTelemetry SDK reads process.env itself, as it does in main.ts.
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });
  telemetry = await startTelemetry("weft-test", process.env);
  fabric = await startFabric();
});

after(async () => {
  await fabric?.stop();
  await telemetry?.shutdown();
  receiver?.close();
});

test("gateway and agent spans of one invocation share its trace id, which the record keeps", async () => {
  const name = `traced-${randomBytes(3).toString("hex")}`;
  const put = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: "exports.handler = async (e, c) => c.traceId" });
  assert.equal(put.status, 201);
  const res = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, {});
  assert.equal(res.body.status, "ok");
  const traceIdSeenByHandler = res.body.output as string;
  assert.match(traceIdSeenByHandler, /^[0-9a-f]{32}$/);

  const traceSpans = await eventually(async () => {
    const mine = spans.filter((s) => s.traceId === traceIdSeenByHandler);
    const scopes = new Set(mine.map((s) => s.scope));
    return scopes.has("weft-gateway") && scopes.has("weft-agent") ? mine : undefined;
  }, "gateway and agent spans of the invocation");
  const gatewaySpan = traceSpans.find((s) => s.scope === "weft-gateway")!;
  const agentSpan = traceSpans.find((s) => s.scope === "weft-agent")!;
  assert.equal(agentSpan.parentSpanId, gatewaySpan.spanId, "the agent's span is a child of the gateway's, across NATS");

  const record = await eventually(async () => {
    const r = await http(fabric.httpUrl, "GET", `/v1/invocations/${res.body.invocationId}`);
    return r.status === 200 && r.body.status === "ok" ? r.body : undefined;
  }, "the invocation record");
  assert.equal(record.traceId, traceIdSeenByHandler);
});
