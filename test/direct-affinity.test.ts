// Direct calls across two agents (WEFT_SYNC_PATH=direct, WEFT_DIRECT_AFFINITY on): each function's calls run on its
// home agent, which then holds its only warm container; a home that is listed but gone (no one listens on its
// subject) costs its calls nothing but a second request to the queue group; and a hot function's calls in flight
// spread over both agents once its home carries more than its bounded share.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { http, startAnotherAgent, startFabric, untilAgentsRunning, type Fabric } from "./harness/fabric.js";
import { until } from "./harness/eventually.js";
import { AgentContainers } from "./harness/containers.js";
import { startAgent } from "../agents/app.js";
import { homeAgent, LOAD_FACTOR, SPARE } from "../gateway/direct-affinity.js";
import { AGENT_HEARTBEAT_SUBJECT, JOBS_STREAM } from "../shared/subjects.js";

const ECHO = `exports.handler = async (e) => { if (e.ms) await new Promise((r) => setTimeout(r, e.ms)); return { echo: e.n }; }`;
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

describe("direct calls across two agents", () => {
  let fabric: Fabric;
  let second: Awaited<ReturnType<typeof startAgent>>;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let agents: string[];

  before(async () => {
    fabric = await startFabric({ gatewayEnv: { WEFT_SYNC_PATH: "direct" }, agentEnv: { WEFT_STEM_CELLS: "0" } });
    second = await startAnotherAgent(fabric, uniqueName("second"), { WEFT_STEM_CELLS: "0" });
    agents = [fabric.agent.agentId, second.agentId].sort();
    nc = await connect({ servers: fabric.nats.url });
    jsm = await jetstreamManager(nc);
    await untilAgentsRunning(fabric.httpUrl, agents);
  });

  after(async () => {
    await nc?.close();
    await second?.stop();
    await fabric?.stop();
  });

  const jobsStored = async () => (await jsm.streams.info(JOBS_STREAM)).state.last_seq;
  const invoke = (name: string, event: unknown) => http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, event);

  async function deploy(name: string, concurrency = 1): Promise<void> {
    const res = await http(fabric.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: ECHO, concurrency });
    assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body));
  }

  /** `n` function names homed on each of `among`, so the test never depends on how random names happen to fall. */
  function namesHomedOn(among: readonly string[], on: readonly string[], n: number): string[] {
    const names: string[] = [];
    for (const agent of on) {
      let found = 0;
      while (found < n) {
        const name = uniqueName("aff");
        if (homeAgent(name, among) !== agent) continue;
        names.push(name);
        found++;
      }
    }
    return names;
  }

  test("each function's calls run on its home agent, which holds its only container", { timeout: 180_000 }, async () => {
    const names = namesHomedOn(agents, agents, 2);
    for (const name of names) await deploy(name);
    const jobsBefore = await jobsStored();
    const ran = new Map<string, Array<{ agent: string; coldStart: boolean }>>();
    for (let round = 0; round < 4; round++) {
      for (const name of names) {
        const res = await invoke(name, { n: round });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.status, "ok", JSON.stringify(res.body));
        ran.set(name, [...(ran.get(name) ?? []), { agent: res.body.agent, coldStart: res.body.coldStart }]);
      }
    }
    for (const name of names) {
      const home = homeAgent(name, agents);
      assert.deepEqual(ran.get(name)!.map((r) => r.agent), [home, home, home, home], `${name}'s calls`);
      assert.deepEqual(ran.get(name)!.map((r) => r.coldStart), [true, false, false, false], `${name}: one cold start, then warm`);
      for (const agent of agents) {
        const ids = await new AgentContainers(agent).ids(name);
        assert.equal(ids.length, agent === home ? 1 : 0, `${name}'s containers on ${agent}`);
      }
    }
    assert.equal(await jobsStored(), jobsBefore, "every call went direct, none was queued");
  });

  test("a home that is listed but gone: its calls go to the queue group at once and run, none queued", { timeout: 120_000 }, async () => {
    // A heartbeat for an agent that does not exist: the gateway lists it as running until it ages out.
    const ghost = uniqueName("ghost");
    nc.publish(AGENT_HEARTBEAT_SUBJECT, JSON.stringify({ ...fabric.agent.status(), agentId: ghost, at: Date.now() }));
    await until(async () => (await http(fabric.httpUrl, "GET", `/v1/agents/${ghost}`)).status === 200, "the gateway listing the ghost", 10_000);
    try {
      const [name] = namesHomedOn([...agents, ghost], [ghost], 1);
      await deploy(name!);
      const jobsBefore = await jobsStored();
      for (let i = 0; i < 3; i++) {
        const res = await invoke(name!, { n: i });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(res.body.output, { echo: i });
        assert.ok(agents.includes(res.body.agent), `run by ${res.body.agent}`);
      }
      assert.equal(await jobsStored(), jobsBefore, "none was queued");
    } finally {
      // Its goodbye: the gateway forgets it at once, as it does a real agent's.
      nc.publish(AGENT_HEARTBEAT_SUBJECT, JSON.stringify({ ...fabric.agent.status(), agentId: ghost, state: "stopped", at: Date.now() }));
      await until(async () => (await http(fabric.httpUrl, "GET", `/v1/agents/${ghost}`)).status === 404, "the gateway forgetting the ghost", 10_000);
    }
  });

  test("a hot function's calls in flight spread over both agents, its home carrying the most", { timeout: 120_000 }, async () => {
    const [name] = namesHomedOn(agents, [agents[0]!], 1);
    await deploy(name!, 24);
    // Warm on its home first: the calls then all arrive while the home already runs calls.
    assert.equal((await invoke(name!, { n: -1 })).body.status, "ok");
    const answers = await Promise.all(Array.from({ length: 24 }, (_, n) => invoke(name!, { n, ms: 1500 })));
    const by = new Map<string, number>();
    for (const res of answers) {
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, "ok", JSON.stringify(res.body));
      by.set(res.body.agent, (by.get(res.body.agent) ?? 0) + 1);
    }
    const home = by.get(agents[0]!) ?? 0;
    const other = by.get(agents[1]!) ?? 0;
    assert.ok(other > 0, `the other agent ran none of 24 (${JSON.stringify([...by])})`);
    assert.ok(home >= other, `the home ran ${home}, the other ${other}`);
    // 24 in flight over two agents: the bound is ceil(1.25 × 24 / 2) + SPARE = 19.
    assert.ok(home <= Math.ceil((LOAD_FACTOR * 24) / 2) + SPARE, `the home ran ${home} of 24 at once, past the bound`);
  });
});
