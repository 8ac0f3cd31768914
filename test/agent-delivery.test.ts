// Delivery promises at their edges, on a real nats-server and real containers: a job whose every delivery
// dies with its agent is ended by the platform; a record JetStream will not store waits in the agent's
// outbox and lands once it can; the jobs consumer's settings come from the server, not from each agent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { freePort, startNats, type NatsServer } from "./harness/nats.js";
import { PartitionProxy } from "./chaos/partition-proxy.js";
import { eventually, until } from "./harness/eventually.js";
import { DEFAULT_TOPOLOGY, ensureTopology, readJobSettings } from "../shared/nats.js";
import { HEADERS } from "../shared/headers.js";
import { JOBS_CONSUMER, JOBS_STREAM, RECORDS_STREAM, jobSubject } from "../shared/subjects.js";
import type { InvocationResult, RecordEvent } from "../shared/schemas/invocation.js";
import { JobReaper } from "../controller/job-reaper.js";
import { startAgentFixture, uniqueName, type AgentFixture } from "./fixtures/agent-fixture.js";

describe("every delivery dies with its agent", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    await ensureTopology(nc, { ...DEFAULT_TOPOLOGY, jobAckWaitMs: 1000, jobMaxDeliver: 2 });
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  test("the controller ends the job: killed / PLATFORM_ERROR recorded, the caller answered, WEFT_JOBS emptied", async () => {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const reaper = new JobReaper(nc, js, pino({ level: "silent" }));
    reaper.start();
    try {
      const name = uniqueName("doomed");
      const replyTo = createInbox();
      const reply = nc.subscribe(replyTo, { max: 1 });
      const h = headers();
      h.set(HEADERS.invocationId, `inv-${name}`);
      h.set(HEADERS.replyTo, replyTo);
      h.set(HEADERS.enqueuedAt, String(Date.now()));
      await js.publish(jobSubject(name), "{}", { headers: h, msgID: `inv-${name}` });
      // An agent that takes the job and dies before it can ack, on every delivery.
      const consumer = await js.consumers.get(JOBS_STREAM, JOBS_CONSUMER);
      for (let delivery = 1; delivery <= 2; delivery++) {
        const got = await consumer.next({ expires: 5000 });
        assert.ok(got, `delivery ${delivery} arrived`);
        assert.equal(got.info.deliveryCount, delivery);
      }
      // A living agent's next pull is what makes the server notice the deliveries are used up.
      const after = consumer.next({ expires: 5000 });
      const answer = await (async () => {
        for await (const m of reply) return m.json<InvocationResult>();
        return undefined;
      })();
      assert.equal(answer?.status, "killed");
      assert.equal(answer?.error?.code, "PLATFORM_ERROR");
      await until(async () => (await jsm.streams.info(JOBS_STREAM)).state.messages === 0, "the job removed from WEFT_JOBS", 10_000);
      const records = await js.consumers.get(RECORDS_STREAM, "weft-controller");
      const m = await records.next({ expires: 5000 });
      const record = m?.json<RecordEvent>();
      assert.equal(record?.invocationId, `inv-${name}`);
      assert.equal(record?.phase, "final");
      assert.equal(record?.status, "killed");
      assert.equal(record?.error?.code, "PLATFORM_ERROR");
      assert.equal(record?.attempt, 2);
      assert.equal(reaper.stats.ended, 1);
      assert.equal(await after, null, "the exhausted job is not delivered again");
    } finally {
      await reaper.stop();
    }
  });
});

describe("records and the jobs consumer's settings", () => {
  let f: AgentFixture;
  before(async () => {
    f = await startAgentFixture({ WEFT_STEM_ISOLATIONS: "runc" });
  });
  after(() => f.stop());

  test("agents take ack wait and max deliveries from the server", async () => {
    const s = await readJobSettings(f.nc);
    assert.deepEqual(s, { ackWaitMs: DEFAULT_TOPOLOGY.jobAckWaitMs, maxDeliver: DEFAULT_TOPOLOGY.jobMaxDeliver });
  });

  test("a final record JetStream will not store waits in the outbox, the job is acked, and the record lands once it can", async () => {
    const name = uniqueName("outbox");
    await f.deploy(name, { runtime: "python3", code: `def handler(event, context):\n    return {"n": event["n"]}\n` });
    await f.invoke(name, { n: 0 }); // warm
    const jsm = await jetstreamManager(f.nc);
    await jsm.streams.delete(RECORDS_STREAM); // JetStream now refuses every record
    const h = headers();
    h.set(HEADERS.invocationId, `inv-${name}`);
    h.set(HEADERS.enqueuedAt, String(Date.now()));
    await f.js.publish(jobSubject(name), JSON.stringify({ n: 7 }), { headers: h, msgID: `inv-${name}` });
    await until(async () => (f.agent.status().outbox ?? 0) >= 1, "the record in the agent's outbox", 20_000);
    await until(async () => (await jsm.streams.info(JOBS_STREAM)).state.messages === 0, "the job acked", 5000);
    await ensureTopology(f.nc, DEFAULT_TOPOLOGY); // the stream is back
    const record = await eventually(async () => {
      const consumer = await f.js.consumers.get(RECORDS_STREAM, "weft-controller");
      for (;;) {
        const m = await consumer.next({ expires: 1000 });
        if (!m) return undefined;
        m.ack();
        const data = m.json<RecordEvent | RecordEvent[]>();
        const r = (Array.isArray(data) ? data : [data]).find((x) => x.invocationId === `inv-${name}` && x.phase === "final");
        if (r) return r;
      }
    }, "the outbox record stored", 20_000);
    assert.equal(record.status, "ok");
    assert.equal(record.output, JSON.stringify({ n: 7 }));
    await until(() => (f.agent.status().outbox ?? 0) === 0, "the outbox emptied", 5000);
  });
});

describe("an agent that stalls while it holds a job", () => {
  let f: AgentFixture;
  before(async () => {
    f = await startAgentFixture({ WEFT_STEM_ISOLATIONS: "runc" }, { jobAckWaitMs: 2000 });
  });
  after(() => f.stop());

  test("its attempt is fenced: no reply, no record, no ack from it; the redelivered attempt answers", async () => {
    const name = uniqueName("stalled");
    await f.deploy(name, { runtime: "python3", code: `import time\ndef handler(event, context):\n    time.sleep(event["sleep"])\n    return {"attempt": context.attempt}\n` });
    await f.invoke(name, { sleep: 0 }); // warm
    const call = f.invoke(name, { sleep: 0.3 }, { timeoutMs: 30_000 });
    // This process (the agent runs in it) stops running for longer than half the ack wait, as a SIGSTOP would.
    await new Promise((r) => setTimeout(r, 50));
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      // busy: nothing else in this process runs
    }
    const { result } = await call;
    assert.equal(result.status, "ok");
    assert.deepEqual(result.output, { attempt: 2 }, "the answer is the redelivered attempt's, not the stalled one's");
    const record = await f.finalRecord(result.invocationId);
    assert.equal(record.attempt, 2);
    const finals = (f.records.get(result.invocationId) ?? []).filter((r) => r.phase === "final");
    assert.equal(finals.length, 1, "the stalled attempt wrote no final record");
  });
});

describe("an agent cut off from NATS while it holds a job (it keeps running: no stall)", () => {
  let f: AgentFixture;
  let proxy: PartitionProxy;
  before(async () => {
    f = await startAgentFixture({ WEFT_STEM_ISOLATIONS: "runc" }, { jobAckWaitMs: 2000 });
    // Only the agent behind the proxy takes jobs, so every attempt is its own.
    await f.agent.stop();
    proxy = await PartitionProxy.start(await freePort(), f.nats.port);
  });
  after(async () => {
    proxy.heal();
    await f.stop();
    await proxy.close();
  });

  test("its attempt is fenced by its lease: no reply, no record from it once the ack wait passed unconfirmed", async () => {
    const cut = await f.startAnotherAgent({ WEFT_NATS_URL: `nats://127.0.0.1:${proxy.listenPort}`, WEFT_AGENT_ID: uniqueName("cut"), WEFT_RUNNING_RECORD_AFTER_MS: "50" });
    const name = uniqueName("partitioned");
    await f.deploy(name, { runtime: "python3", code: `import time\ndef handler(event, context):\n    time.sleep(event["sleep"])\n    return {"attempt": context.attempt}\n` });
    const warm = await f.invoke(name, { sleep: 0 });
    const call = f.invoke(name, { sleep: 3 }, { timeoutMs: 30_000 });
    const running = (id: string, rs: RecordEvent[]) => id !== warm.result.invocationId && rs.some((r) => r.functionName === name && r.phase === "running" && r.attempt === 1);
    const id = await eventually(async () => [...f.records].find(([k, rs]) => running(k, rs))?.[0], "attempt 1 running", 10_000);
    proxy.partition();
    // Attempt 1 ends (3 s) after its lease ran out (2 s ack wait, no progress ack confirmed): it must drop its
    // outcome. Unfenced, its reply and record would be the first bytes through once the partition heals.
    await until(() => cut.status().busy === 0, "attempt 1 ended inside the cut-off agent", 10_000);
    proxy.heal();
    const { result } = await call;
    assert.equal(result.invocationId, id);
    assert.equal(result.status, "ok");
    assert.deepEqual(result.output, { attempt: 2 }, "the answer is the redelivered attempt's");
    const record = await f.finalRecord(id);
    assert.equal(record.attempt, 2);
    const finals = (f.records.get(id) ?? []).filter((r) => r.phase === "final");
    assert.deepEqual(finals.map((r) => r.attempt), [2], "the fenced attempt wrote no final record");
  });
});
