// The direct sync path (WEFT_SYNC_PATH=direct) on the real fabric: a sync call reaches an agent as a core NATS
// request with no job stored in WEFT_JOBS, and its final record still carries the event; a call no agent can take
// now (its direct slots full, or no agent listening) is handed back and queued, and runs all the same. Then the
// gateway's end alone against a real nats-server: an agent that takes a call and goes silent leaves the caller
// DEADLINE_EXCEEDED (or "running" when the wait is shorter than the function may run), never a second run.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { eventually, http, startAnotherAgent, startFabric, type Fabric } from "./harness/fabric.js";
import { until } from "./harness/eventually.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import Dockerode from "dockerode";
import { LABELS } from "../agents/docker-driver.js";
import { agentChannelDir, clearChannelDirs, DEFAULT_CHANNEL_ROOT } from "../agents/runner-channel.js";
import { callDirect } from "../gateway/direct-call.js";
import { ReplyInbox } from "../gateway/reply-inbox.js";
import { HEADERS } from "../shared/headers.js";
import { WeftError } from "../shared/errors.js";
import { agentDirectSubject, DIRECT_AGENTS_QUEUE, directSubject, JOBS_STREAM } from "../shared/subjects.js";

const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;
const ECHO = `exports.handler = async (e) => { if (e.ms) await new Promise((r) => setTimeout(r, e.ms)); return { echo: e.n }; }`;

describe("the direct sync path on the fabric", () => {
  let fabric: Fabric;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    // One direct slot: a second call while one runs is handed back.
    fabric = await startFabric({ gatewayEnv: { WEFT_SYNC_PATH: "direct" }, agentEnv: { WEFT_AGENT_DIRECT_SLOTS: "1" } });
    nc = await connect({ servers: fabric.nats.url });
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    await nc?.close();
    await fabric?.stop();
  });

  const jobsStored = async () => (await jsm.streams.info(JOBS_STREAM)).state.last_seq;
  const invoke = (name: string, event: unknown) => http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, event);

  async function deploy(name: string): Promise<void> {
    const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: ECHO, concurrency: 4 });
    assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body));
  }

  test("a sync call runs with no job stored, and its record carries the event", async () => {
    const name = uniqueName("direct");
    await deploy(name);
    const before = await jobsStored();
    const res = await invoke(name, { n: 7 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, "ok");
    assert.deepEqual(res.body.output, { echo: 7 });
    assert.equal(res.body.agent, fabric.agent.agentId);
    assert.equal(await jobsStored(), before, "no job was stored in WEFT_JOBS");
    const record = await eventually(async () => {
      const r = await http(fabric.httpUrl, "GET", `/v1/invocations/${res.body.invocationId}`);
      return r.status === 200 && r.body.status ? r.body : undefined;
    }, "the final record");
    assert.equal(record.status, "ok");
    assert.deepEqual(record.event, { n: 7 });
    assert.deepEqual(record.output, { echo: 7 });
    assert.equal(record.attempt, 1);
  });

  test("hostile requests on the direct subjects get a clear refusal or outcome, and the agent goes on", async () => {
    const name = uniqueName("hostile");
    await deploy(name);
    // No invocation id: not a gateway's call.
    const bare = await nc.request(directSubject(name), "{}", { timeout: 10_000 });
    assert.equal(bare.headers?.get(HEADERS.errorCode), "INVALID_ARGUMENT");
    assert.match(bare.string(), /Weft-Invocation-Id/);
    // Malformed headers: a wait that is not a number, a version that is not one, an unknown function.
    const h = natsHeaders();
    h.set(HEADERS.invocationId, randomUUID());
    h.set(HEADERS.waitMs, "soon");
    h.set(HEADERS.version, "-3");
    const odd = await nc.request(directSubject(name), '{"n":5}', { timeout: 10_000, headers: h });
    assert.equal(JSON.parse(odd.string()).status, "ok", odd.string());
    const h2 = natsHeaders();
    h2.set(HEADERS.invocationId, randomUUID());
    const missing = JSON.parse((await nc.request(directSubject(uniqueName("nope")), "{}", { timeout: 10_000, headers: h2 })).string());
    assert.equal(missing.status, "error");
    assert.equal(missing.error.code, "FUNCTION_DELETED");
    // The same on the agent's own subject (calls sent to it by name), and a function token that names no function.
    const own = await nc.request(agentDirectSubject(name, fabric.agent.agentId), "{}", { timeout: 10_000 });
    assert.equal(own.headers?.get(HEADERS.errorCode), "INVALID_ARGUMENT");
    const h3 = natsHeaders();
    h3.set(HEADERS.invocationId, randomUUID());
    const bogus = JSON.parse((await nc.request(agentDirectSubject("Not_A-Name", fabric.agent.agentId), "{}", { timeout: 10_000, headers: h3 })).string());
    assert.equal(bogus.error.code, "FUNCTION_DELETED", JSON.stringify(bogus));
    const after = await invoke(name, { n: 6 });
    assert.deepEqual(after.body.output, { echo: 6 }, "the agent still serves calls");
  });

  test("a call past the agent's direct slots is handed back and queued, and runs", async () => {
    const name = uniqueName("handback");
    await deploy(name);
    assert.equal((await invoke(name, { n: 0 })).body.status, "ok"); // warm
    const before = await jobsStored();
    const slow = invoke(name, { n: 1, ms: 1500 });
    await until(() => fabric.agent.status().busy === 1, "the slow call running in the agent", 10_000);
    const second = await invoke(name, { n: 2 });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.deepEqual(second.body.output, { echo: 2 });
    assert.equal(await jobsStored(), before + 1, "the handed-back call was queued as a job");
    const first = await slow;
    assert.deepEqual(first.body.output, { echo: 1 });
    assert.equal(await jobsStored(), before + 1, "the slow call ran direct");
  });

  test("a call whose timeout the caller's wait cannot cover is handed back at once and queued", async () => {
    const name = uniqueName("long");
    // 120 s of timeout against the gateway's 60 s wait: started direct, its answer could come after the caller left.
    const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: ECHO, limits: { timeoutMs: 120_000 } });
    assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body));
    const before = await jobsStored();
    const answer = await invoke(name, { n: 4 });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.output, { echo: 4 });
    assert.equal(await jobsStored(), before + 1, "queued after the hand-back");
  });

  test("with no agent listening for direct calls, a call is queued and runs", async () => {
    const name = uniqueName("nolisten");
    await deploy(name);
    await fabric.agent.stop();
    fabric.agent = await startAnotherAgent(fabric, uniqueName("queue-only"), { WEFT_AGENT_DIRECT_SLOTS: "0" }, "agent");
    const before = await jobsStored();
    const res = await invoke(name, { n: 3 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.output, { echo: 3 });
    assert.equal(res.body.agent, fabric.agent.agentId);
    assert.equal(await jobsStored(), before + 1);
  });

  test("a draining agent hands back the direct call waiting in it for a container; another agent runs it from the queue", async () => {
    const name = uniqueName("drain");
    await fabric.agent.stop();
    // Room for one 256 MB container and no stem cells: a second call waits inside the agent for the first's.
    const draining = await startAnotherAgent(fabric, uniqueName("draining"), { WEFT_STEM_CELLS: "0", WEFT_AGENT_MEMORY_MB: "256" }, "agent");
    fabric.agent = draining;
    const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: ECHO, concurrency: 1, limits: { memoryMb: 256 } });
    assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body));
    assert.equal((await invoke(name, { n: 0 })).body.status, "ok"); // its one container, warm
    const before = await jobsStored();
    const slow = invoke(name, { n: 1, ms: 3000 });
    await until(() => draining.status().busy === 1, "the slow call running", 10_000);
    const waiting = invoke(name, { n: 2 });
    await until(() => draining.status().busy === 2, "the second call waiting in the agent for the container", 10_000);
    assert.equal(await jobsStored(), before, "both calls went direct");
    fabric.agent = await startAnotherAgent(fabric, uniqueName("other"), { WEFT_STEM_CELLS: "0" });
    const stopping = draining.stop();
    const handedBack = await waiting;
    assert.equal(handedBack.status, 200, JSON.stringify(handedBack.body));
    assert.deepEqual(handedBack.body.output, { echo: 2 });
    assert.equal(handedBack.body.agent, fabric.agent.agentId, "run by the other agent");
    assert.equal(await jobsStored(), before + 1, "queued once, after the hand-back");
    const first = await slow;
    assert.deepEqual(first.body.output, { echo: 1 });
    assert.equal(first.body.agent, draining.agentId, "the draining agent finishes its running call");
    await stopping;
  });
});

describe("an agent SIGKILLed during a direct call", () => {
  let fabric: Fabric;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    // The in-process agent takes no direct calls, only queued jobs: a call queued after the kill would run there.
    fabric = await startFabric({ gatewayEnv: { WEFT_SYNC_PATH: "direct", WEFT_SYNC_WAIT_MS: "4000" }, agentEnv: { WEFT_AGENT_DIRECT_SLOTS: "0" } });
    nc = await connect({ servers: fabric.nats.url });
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    await nc?.close();
    await fabric?.stop();
  });

  test("its caller hears DEADLINE_EXCEEDED at the wait's end, and the call is never queued to run again", { timeout: 120_000 }, async () => {
    const childId = uniqueName("doomed");
    const child = spawn(process.execPath, ["--import", "tsx", resolve(import.meta.dirname, "../agents/main.ts")], {
      env: { ...process.env, WEFT_NATS_URL: fabric.nats.url, WEFT_AGENT_ID: childId, WEFT_EXEC_POOL_SIZE: "0", WEFT_STEM_CELLS: "0", WEFT_HEARTBEAT_MS: "100", WEFT_LOG_LEVEL: "warn" },
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const name = uniqueName("doomed");
      // A 2 s timeout within the gateway's 4 s wait: the agent starts it (its run ends before the caller stops waiting).
      const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: ECHO, concurrency: 4, limits: { timeoutMs: 2000 } });
      assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body));
      // Until the child subscribes, direct calls are handed back and the in-process agent runs them from the queue.
      await eventually(async () => {
        const r = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 0 });
        return r.body?.agent === childId ? r : undefined;
      }, "a direct call run by the child agent", 60_000);
      const busyOf = async () => ((await http(fabric.httpUrl, "GET", "/healthz")).body?.agents ?? []).find((a: { agentId: string }) => a.agentId === childId)?.busy ?? 0;
      const jobsBefore = (await jsm.streams.info(JOBS_STREAM)).state.last_seq;
      const call = http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { n: 1, ms: 1800 });
      await eventually(async () => ((await busyOf()) >= 1 ? true : undefined), "the slow call running in the child agent", 10_000);
      child.kill("SIGKILL");
      await exited;
      const answer = await call;
      assert.equal(answer.status, 504, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, "DEADLINE_EXCEEDED");
      assert.ok(answer.body.error.invocationId);
      // The gateway has answered: it queues nothing for this call after that, and it queued nothing before.
      assert.equal((await jsm.streams.info(JOBS_STREAM)).state.last_seq, jobsBefore, "the lost direct call was not queued to run again");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      // What the killed agent left running (its next start would remove it; it has none).
      const docker = new Dockerode();
      const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.agent}=${childId}`] } });
      await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      await clearChannelDirs(agentChannelDir(DEFAULT_CHANNEL_ROOT, childId));
    }
  });
});

describe("the gateway's end of a direct call, against a real nats-server", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let inbox: ReplyInbox;

  before(async () => {
    server = await startNats();
    nc = await connect({ servers: server.url });
    inbox = new ReplyInbox(nc, "direct-test");
  });

  after(async () => {
    inbox?.stop();
    await nc?.close();
    await server?.cleanup();
  });

  const call = (functionName: string, waitMs: number) => {
    const h = natsHeaders();
    const invocationId = randomUUID();
    h.set(HEADERS.invocationId, invocationId);
    return { invocationId, headers: h, run: () => callDirect(nc, inbox, { subject: directSubject(functionName), invocationId, event: Buffer.from("{}"), headers: h, waitMs }) };
  };

  /** A stand-in agent on the direct subjects: `answer` decides what it does with each request. */
  async function standIn(answer: (m: import("@nats-io/transport-node").Msg) => void): Promise<{ heard: string[]; waits: string[]; stop: () => void }> {
    const heard: string[] = [];
    const waits: string[] = [];
    const sub = nc.subscribe(directSubject("*"), {
      queue: DIRECT_AGENTS_QUEUE,
      callback: (_e, m) => {
        heard.push(m.headers?.get(HEADERS.invocationId) ?? "");
        waits.push(m.headers?.get(HEADERS.waitMs) ?? "");
        answer(m);
      },
    });
    await nc.flush();
    return { heard, waits, stop: () => sub.unsubscribe() };
  }

  test("no agent listening: no-agent (the invoker tries the queue group, then queues)", async () => {
    assert.deepEqual(await call("nobody", 2000).run(), { kind: "no-agent" });
  });

  test("an agent's hand-back, its result and its refusal", async () => {
    const agent = await standIn((m) => {
      const h = natsHeaders();
      if (m.subject.endsWith("-back")) h.set(HEADERS.handBack, "1");
      if (m.subject.endsWith("-bad")) h.set(HEADERS.errorCode, "INVALID_ARGUMENT");
      const body = m.subject.endsWith("-bad") ? JSON.stringify({ error: { code: "INVALID_ARGUMENT", message: "no" } }) : m.subject.endsWith("-ok") ? '{"status":"ok"}' : "";
      m.respond(body, { headers: h });
    });
    try {
      assert.deepEqual(await call("f-back", 2000).run(), { kind: "handed-back" });
      const back = call("f-back", 2000);
      await back.run();
      assert.equal(back.headers.get(HEADERS.waitMs), "", "a handed-back call is queued without the caller's wait");
      const ok = await call("f-ok", 2000).run();
      assert.equal(ok.kind, "result");
      assert.equal(ok.kind === "result" && Buffer.from(ok.result).toString(), '{"status":"ok"}');
      await assert.rejects(call("f-bad", 2000).run(), (e: unknown) => e instanceof WeftError && e.code === "INVALID_ARGUMENT");
      assert.equal(agent.heard.length, 4, "each call reached the agent once");
      assert.deepEqual(agent.waits, ["2000", "2000", "2000", "2000"], "each carried the caller's wait");
    } finally {
      agent.stop();
    }
  });

  test("an agent that takes the call and goes silent: DEADLINE_EXCEEDED naming the invocation, asked once", async () => {
    const agent = await standIn(() => undefined);
    try {
      const lost = call("silent", 300);
      await assert.rejects(lost.run(), (e: unknown) => e instanceof WeftError && e.code === "DEADLINE_EXCEEDED" && e.invocationId === lost.invocationId && e.message.includes(lost.invocationId));
      assert.deepEqual(agent.heard, [lost.invocationId], "sent once, never again");
    } finally {
      agent.stop();
    }
  });
});
