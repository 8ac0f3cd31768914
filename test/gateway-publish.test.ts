// A sync call's job is a core publish whose PubAck comes back to the gateway's inbox (the caller waits for the
// result, not the ack): JetStream's refusals must still reach the caller at once, with the right error.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { JOBS_STREAM } from "../shared/subjects.js";
import { definition, http, publishDefinition, startGatewayUnderTest, uniqueName, type GatewayUnderTest } from "./gateway-fixtures.js";

let g: GatewayUnderTest;
const RETRY_MS = 1500;

before(async () => {
  // No agent runs here: a stored job's sync call answers 202 running after this wait.
  // A job publish no stream received is tried again for WEFT_PUBLISH_RETRY_MS before the caller hears.
  g = await startGatewayUnderTest({ WEFT_SYNC_WAIT_MS: "200", WEFT_PUBLISH_TIMEOUT_MS: "5000", WEFT_PUBLISH_RETRY_MS: String(RETRY_MS) });
});

after(async () => {
  await g?.stop();
});

async function deployed(): Promise<string> {
  const name = uniqueName("pub");
  await publishDefinition(g.kv, definition(name));
  return name;
}

async function invokeUntilKnown(name: string): Promise<{ status: number; body: any; ms: number }> {
  for (;;) {
    const t0 = performance.now();
    const res = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 1 });
    // The gateway learns of the function from its KV watch: until then the call is a 404.
    if (res.status !== 404) return { ...res, ms: performance.now() - t0 };
  }
}

test("a stored job without an answer is 202 running; a full queue is 429 at once, from the refused PubAck", async () => {
  const name = await deployed();
  const jsm = await jetstreamManager(g.nc);
  const info = await jsm.streams.info(JOBS_STREAM);
  await jsm.streams.update(JOBS_STREAM, { ...info.config, max_msgs: info.state.messages + 1 });
  try {
    const stored = await invokeUntilKnown(name);
    assert.equal(stored.status, 202, JSON.stringify(stored.body));
    assert.equal(stored.body.status, "running");
    const refused = await invokeUntilKnown(name);
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, "RESOURCE_EXHAUSTED");
    assert.match(refused.body.error.message, /queue is full/);
    assert.ok(refused.ms < 5000, `answered after ${refused.ms} ms: from the PubAck, not the publish timeout`);
  } finally {
    await jsm.streams.update(JOBS_STREAM, info.config);
  }
});

test("no stream takes the job: tried again for WEFT_PUBLISH_RETRY_MS, then 503 UNAVAILABLE naming the queue", async () => {
  const name = await deployed();
  const jsm = await jetstreamManager(g.nc);
  const info = await jsm.streams.info(JOBS_STREAM);
  await jsm.streams.delete(JOBS_STREAM);
  try {
    const res = await invokeUntilKnown(name);
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error.code, "UNAVAILABLE");
    assert.match(res.body.error.message, /invocation queue/);
    assert.ok(res.ms >= RETRY_MS, `answered after ${res.ms} ms: before the retry window (${RETRY_MS} ms) was over`);
    assert.ok(res.ms < 5000, `answered after ${res.ms} ms: from the no-responders status, not the publish timeout`);
    assert.doesNotMatch(res.body.error.message, /may have been accepted/, "nothing was stored: the 503 is not ambiguous");
  } finally {
    await jsm.streams.add(info.config);
  }
});

test("a stream that comes back within WEFT_PUBLISH_RETRY_MS (a cluster's new leader) stores the job: the call is not refused", async () => {
  const name = await deployed();
  await invokeUntilKnown(name); // the gateway knows the function
  const jsm = await jetstreamManager(g.nc);
  const info = await jsm.streams.info(JOBS_STREAM);
  await jsm.streams.delete(JOBS_STREAM);
  let restored = false;
  try {
    const call = http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 2 });
    // The call is refused by no responders at least once before the stream is back.
    await new Promise((r) => setTimeout(r, RETRY_MS / 3));
    await jsm.streams.add(info.config);
    restored = true;
    const res = await call;
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.status, "running");
    const stored = await jsm.streams.info(JOBS_STREAM);
    assert.ok(stored.state.messages >= 1, "the job is in the stream");
  } finally {
    if (!restored) await jsm.streams.add(info.config);
  }
});
