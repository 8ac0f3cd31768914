// Measures what the gateway adds to a synchronous invocation. The gateway runs as its own process (gateway/main.ts,
// as deployed); this process holds the clients and the in-test responder standing in for an agent. Beside it, in
// the same run: a raw NATS request-reply and the gateway's own path without the gateway (JetStream publish →
// responder → reply). Prints a table; asserts only generous bounds, since the machine is shared.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { Agent, request } from "node:http";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { toProtoValue } from "../gateway/json-value.js";
import { HEADERS } from "../shared/headers.js";
import { invokeSubject, jobSubject } from "../shared/subjects.js";
import { freePort } from "./harness/nats.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { ensureTopology, openFunctionsBucket, DEFAULT_TOPOLOGY } from "../shared/nats.js";
import { Responder, definition, grpcCall, grpcClients, publishDefinition, uniqueName, until } from "./gateway-fixtures.js";

const ROUNDS = Number(process.env.WEFT_OVERHEAD_ROUNDS ?? 1000);
const WARMUP = 100;
const CONCURRENCY = 64;

let nats: NatsServer;
let nc: NatsConnection;
let gateway: ChildProcess;
let httpPort: number;
let grpcPort: number;
let responder: Responder;
const name = uniqueName("bench");

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  await ensureTopology(nc, DEFAULT_TOPOLOGY);
  await publishDefinition(await openFunctionsBucket(nc), definition(name));
  responder = await new Responder(nc).start();
  [httpPort, grpcPort] = [await freePort(), await freePort()];
  gateway = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../gateway/main.ts", import.meta.url))], {
    env: { ...process.env, WEFT_NATS_URL: nats.url, WEFT_HTTP_PORT: String(httpPort), WEFT_GRPC_PORT: String(grpcPort), WEFT_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await until(async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined)) !== undefined, "the gateway listening", 30_000);
});

after(async () => {
  if (gateway && gateway.exitCode === null) gateway.kill("SIGKILL");
  responder?.stop();
  await nc?.close();
  await nats?.cleanup();
});

interface Stats {
  path: string;
  p50: number;
  p99: number;
  mean: number;
}

async function measure(path: string, call: () => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await call();
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = process.hrtime.bigint();
    await call();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!;
  return { path, p50: at(0.5), p99: at(0.99), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function httpInvoke(body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: httpPort, path: `/v1/functions/${name}/invoke`, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test("gateway overhead per sync invocation, beside the NATS floors", async () => {
  const event = JSON.stringify({ hello: "weft" });
  nc.subscribe("bench.echo", { callback: (_e, m) => { m.respond(m.data); } });
  const inbox = `_INBOX.bench.${randomUUID()}`;
  const waiting = new Map<string, () => void>();
  nc.subscribe(`${inbox}.*`, { callback: (_e, m) => waiting.get(m.subject.slice(inbox.length + 1))?.() });
  const js = jetstream(nc);
  const grpc = grpcClients(`127.0.0.1:${grpcPort}`);

  const directJob = async () => {
    const id = randomUUID();
    const h = natsHeaders();
    h.set(HEADERS.invocationId, id);
    h.set(HEADERS.replyTo, `${inbox}.${id}`);
    const answered = new Promise<void>((resolve) => waiting.set(id, resolve));
    await Promise.all([answered, js.publish(jobSubject(name), event, { msgID: id, headers: h })]);
    waiting.delete(id);
  };

  let failures = 0;
  const rows: Stats[] = [];
  rows.push(await measure("raw NATS request-reply (floor)", () => nc.request("bench.echo", event)));
  rows.push(await measure("JetStream job → responder → reply, no gateway (floor)", directJob));
  rows.push(await measure("gateway HTTP POST /invoke", async () => { if ((await httpInvoke(event)) !== 200) failures++; }));
  rows.push(await measure("gateway gRPC Invoke", async () => {
    const r = await grpcCall(grpc.invocations, "Invoke", { name, event: toProtoValue({ hello: "weft" }, "event") });
    if (r.status !== "ok") failures++;
  }));
  rows.push(await measure("gateway NATS request weft.invoke.{name}", async () => {
    const r = (await nc.request(invokeSubject(name), event, { timeout: 5000 })).json<{ status: string }>();
    if (r.status !== "ok") failures++;
  }));

  const total = 3000;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < total) if ((await httpInvoke(event)) !== 200) failures++;
  }));
  const throughput = total / ((performance.now() - t0) / 1000);
  grpc.close();

  const floor = rows[1]!;
  const fmt = (n: number) => n.toFixed(3).padStart(8);
  console.log(`\n${"path".padEnd(56)}   p50 ms   p99 ms  mean ms   p50 over JetStream floor`);
  for (const r of rows) console.log(`${r.path.padEnd(56)} ${fmt(r.p50)} ${fmt(r.p99)} ${fmt(r.mean)}   ${r === floor || rows.indexOf(r) < 1 ? "" : fmt(r.p50 - floor.p50)}`);
  console.log(`HTTP throughput at ${CONCURRENCY} concurrent clients: ${throughput.toFixed(0)} invocations/s (${total} calls)\n`);

  assert.equal(failures, 0, "every invocation succeeded");
  for (const r of rows) assert.ok(r.p50 < 50, `${r.path}: p50 ${r.p50.toFixed(2)} ms is far beyond any reasonable overhead`);

  // main.ts stops on SIGTERM, draining, and exits 0.
  gateway.kill("SIGTERM");
  const [code] = await once(gateway, "exit");
  assert.equal(code, 0);
});
