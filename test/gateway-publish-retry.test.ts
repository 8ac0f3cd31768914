// REVIEW C7 with real parts: a job publish whose PubAck is late is tried again with the same Nats-Msg-Id before
// the gateway answers, so an ambiguous publish neither becomes a 503 nor runs twice; and when no attempt is
// confirmed the 503 says the call may have been accepted and names its invocation. The PubAcks are made late by a
// TCP proxy between the gateway and a private nats-server that holds back every server→client byte.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { startNats, type NatsServer } from "./harness/nats.js";
import { HoldProxy } from "./harness/hold-proxy.js";
import { until } from "./harness/eventually.js";
import { startGateway, type Gateway } from "../gateway/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { DEFAULT_TOPOLOGY, ensureTopology, openFunctionsBucket } from "../shared/nats.js";
import { HEADERS } from "../shared/headers.js";
import { JOBS_CONSUMER, JOBS_STREAM, jobSubject } from "../shared/subjects.js";
import { Responder, definition, http, publishDefinition, testLog, uniqueName } from "./gateway-fixtures.js";

const PUBLISH_TIMEOUT_MS = 1000;
/** gateway/invoker.ts PUBLISH_ATTEMPTS: the attempts a publish that is never confirmed gets. */
const ATTEMPTS = 3;

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let proxy: HoldProxy;
let gateway: Gateway;
let httpUrl: string;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  await ensureTopology(nc, DEFAULT_TOPOLOGY);
  jsm = await jetstreamManager(nc);
  proxy = await HoldProxy.start(nats.port);
  gateway = await startGateway(
    loadGatewayConfig({
      WEFT_NATS_URL: proxy.url,
      WEFT_HTTP_PORT: "0",
      WEFT_GRPC_PORT: "0",
      WEFT_PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS),
      WEFT_SYNC_WAIT_MS: "10000", // a sync call outlives a held publish (3 s at most)
    }),
    testLog("gateway"),
  );
  httpUrl = `http://127.0.0.1:${gateway.httpPort}`;
});

after(async () => {
  proxy?.release();
  await gateway?.stop();
  await proxy?.close();
  await nc?.close();
  await nats?.cleanup();
});

/** A function the gateway knows (its KV watch runs through the proxy, so this is done before any hold). */
async function deployed(): Promise<string> {
  const name = uniqueName("retry");
  await publishDefinition(await openFunctionsBucket(nc), definition(name));
  // The gateway learns of it from its KV watch: until then a call is a 404. A stored call proves it knows it.
  await until(async () => (await http(httpUrl, "POST", `/v1/functions/${name}/invoke?async=true`, {})).status === 202, "the gateway storing a call of the function", 10_000);
  return name;
}

const storedSoFar = async (): Promise<number> => (await jsm.streams.info(JOBS_STREAM)).state.last_seq;

/** Starts a stand-in agent and resolves once it has taken and acked every job, returning the jobs of `name`. */
async function runAll(name: string): Promise<Responder> {
  const responder = await new Responder(nc).start();
  await until(async () => {
    const info = await jsm.consumers.info(JOBS_STREAM, JOBS_CONSUMER);
    return info.num_pending === 0 && info.num_ack_pending === 0 && responder.jobs.some((j) => j.subject === jobSubject(name));
  }, "every stored job taken and acked", 10_000);
  return responder;
}

test("a PubAck late past the publish timeout: tried again with the same Nats-Msg-Id before answering; stored and run once", async (t) => {
  const name = await deployed();
  const before = await storedSoFar();
  const publishesBefore = proxy.published.filter((p) => p.subject === jobSubject(name)).length;
  proxy.hold();
  let released = false;
  t.after(() => { if (!released) proxy.release(); }); // a failed assertion must not leave the next test held
  let answered = false;
  const call = http(httpUrl, "POST", `/v1/functions/${name}/invoke?async=true`, { n: 1 }).finally(() => { answered = true; });
  // The gateway's second publish of the job is the retry: its first PubAck did not come in time.
  const answeredFirst = call.then((r) => Promise.reject(new Error(`the gateway answered ${r.status} before any retry: ${JSON.stringify(r.body)}`)));
  const seen = (await Promise.race([proxy.publishesTo(jobSubject(name), publishesBefore + 2), answeredFirst])).slice(publishesBefore);
  answeredFirst.catch(() => undefined);
  assert.equal(answered, false, "the gateway answered before its retry: an ambiguous publish reached the caller");
  proxy.release();
  released = true;
  const res = await call;
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.equal(res.body.status, "queued");
  const id = res.body.invocationId as string;
  const msgIds = seen.map((p) => p.headers["nats-msg-id"]);
  assert.deepEqual(msgIds, [id, id], "every attempt carries the invocation id as Nats-Msg-Id");
  assert.equal(await storedSoFar(), before + 1, "the stream stored the job once: the retry was de-duplicated");
  const responder = await runAll(name);
  const runs = responder.jobs.filter((j) => j.headers[HEADERS.invocationId] === id);
  assert.equal(runs.length, 1, "the job was delivered (run) exactly once");
  responder.stop();
});

test("no PubAck on any attempt: 503 after every attempt, saying it may have been accepted, with the invocationId", async () => {
  const name = await deployed();
  const before = await storedSoFar();
  const publishesBefore = proxy.published.filter((p) => p.subject === jobSubject(name)).length;
  proxy.hold();
  let res;
  try {
    const t0 = performance.now();
    res = await http(httpUrl, "POST", `/v1/functions/${name}/invoke?async=true`, { n: 2 });
    const ms = performance.now() - t0;
    assert.ok(ms >= ATTEMPTS * PUBLISH_TIMEOUT_MS * 0.95, `answered after ${ms} ms: before ${ATTEMPTS} attempts had timed out`);
  } finally {
    proxy.release();
  }
  assert.equal(res.status, 503, JSON.stringify(res.body));
  assert.equal(res.body.error.code, "UNAVAILABLE");
  assert.match(res.body.error.message, /may have been accepted/);
  const id = res.body.error.invocationId as string;
  assert.match(id ?? "", /^[0-9a-f-]{36}$/, "the 503 carries the invocation id");
  assert.ok(res.body.error.message.includes(id), "the message names the invocation to look up");
  const seen = proxy.published.filter((p) => p.subject === jobSubject(name)).slice(publishesBefore);
  assert.equal(seen.length, ATTEMPTS, `${ATTEMPTS} attempts were published`);
  assert.deepEqual(seen.map((p) => p.headers["nats-msg-id"]), Array(ATTEMPTS).fill(id), "all with the same Nats-Msg-Id");
  // "May have been accepted" is true: the job was stored, once, and runs once.
  assert.equal(await storedSoFar(), before + 1, "the stream stored the job once across every attempt");
  const responder = await runAll(name);
  assert.equal(responder.jobs.filter((j) => j.headers[HEADERS.invocationId] === id).length, 1, "the job ran exactly once");
  responder.stop();
});

test("a sync call whose PubAck and answer are late: retried with the same Nats-Msg-Id, then the one run's result", async (t) => {
  const name = await deployed();
  await runAll(name).then((r) => r.stop()); // the warm-up job out of the way
  const responder = await new Responder(nc).start(); // runs the job at once; its answer, like the PubAck, is held
  t.after(() => { responder.stop(); proxy.release(); });
  const before = await storedSoFar();
  const publishesBefore = proxy.published.filter((p) => p.subject === jobSubject(name)).length;
  proxy.hold();
  const call = http(httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 3 });
  const answeredFirst = call.then((r) => Promise.reject(new Error(`the gateway answered ${r.status} before any retry: ${JSON.stringify(r.body)}`)));
  const seen = (await Promise.race([proxy.publishesTo(jobSubject(name), publishesBefore + 2), answeredFirst])).slice(publishesBefore);
  answeredFirst.catch(() => undefined);
  proxy.release();
  const res = await call;
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.status, "ok");
  assert.deepEqual(res.body.output, { echo: { n: 3 } });
  const id = res.body.invocationId as string;
  assert.deepEqual(seen.map((p) => p.headers["nats-msg-id"]), [id, id], "the retry carries the same Nats-Msg-Id");
  assert.equal(await storedSoFar(), before + 1, "the stream stored the job once");
  await until(async () => {
    const info = await jsm.consumers.info(JOBS_STREAM, JOBS_CONSUMER);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, "the job acked", 10_000);
  assert.equal(responder.jobs.filter((j) => j.headers[HEADERS.invocationId] === id).length, 1, "the job ran exactly once");
});
