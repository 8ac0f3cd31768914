// REVIEW C9 with real parts (a private nats-server, real runc containers, in-process agents stopped as their
// SIGTERM handler stops them): an agent that drains hands the jobs still waiting in it for a container back to
// JetStream at once, so another agent runs them well before the ack wait, while it finishes its running call.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { until } from "./harness/eventually.js";
import { DEFAULT_TOPOLOGY } from "../shared/nats.js";
import { startAgentFixture, uniqueName, type AgentFixture } from "./fixtures/agent-fixture.js";

let f: AgentFixture;

before(async () => {
  // Room for one 256 MB container and no stem cells: a second job of the function waits inside the agent for
  // that container ("wait"), and keeps waiting (up to a minute) however long the running call takes.
  f = await startAgentFixture({ WEFT_STEM_CELLS: "0", WEFT_AGENT_MEMORY_MB: "256" });
});

after(() => f?.stop());

test("a draining agent hands its waiting jobs back at once: another agent runs them while the running call finishes", async (t) => {
  const name = uniqueName("drain");
  const code = `exports.handler = async (e) => { if (e.ms) await new Promise((r) => setTimeout(r, e.ms)); return { ran: e.n }; }`;
  await f.deploy(name, { runtime: "nodejs", code, concurrency: 1, limits: { memoryMb: 256, timeoutMs: 30_000 } });
  const warm = await f.invoke(name, { n: 0 });
  assert.equal(warm.result.status, "ok", JSON.stringify(warm.result));
  await until(() => f.agent.status().busy === 0, "the agent idle");

  // Long enough that the waiting jobs, handed back (2 s nak delay) and cold-started on the other agent, end first
  // on a loaded machine; short of the ack wait, so only a hand-back at the drain can make them end first.
  const LONG_MS = 15_000;
  let longDone = false;
  const long = f.invoke(name, { n: 1, ms: LONG_MS }, { timeoutMs: 40_000 }).finally(() => (longDone = true));
  await until(() => f.agent.status().busy === 1, "the long call running in the agent", 10_000);
  const waiting = [f.invoke(name, { n: 2 }, { timeoutMs: 40_000 }), f.invoke(name, { n: 3 }, { timeoutMs: 40_000 })];
  await until(() => f.agent.status().busy === 3, "two calls waiting inside the agent for its one container", 10_000);

  // The agent that will take the handed-back jobs (its own id, no stem cells: it cold-starts the function).
  const otherId = uniqueName("other");
  await f.startAnotherAgent({ WEFT_AGENT_ID: otherId, WEFT_STEM_CELLS: "0", WEFT_STEM_ISOLATIONS: "runc" });

  const drainStarted = performance.now();
  const stopping = f.agent.stop();
  const handedBack = await Promise.all(waiting.map(async (call) => ({ ...(await call), afterDrainMs: performance.now() - drainStarted })));
  t.diagnostic(`handed-back jobs answered ${handedBack.map((h) => Math.round(h.afterDrainMs)).join(", ")} ms after the drain began`);
  assert.equal(longDone, false, "the waiting jobs ran before the draining agent's running call ended, not after its drain");
  for (const [i, { result, afterDrainMs }] of handedBack.entries()) {
    assert.equal(result.status, "ok", JSON.stringify(result));
    assert.deepEqual(result.output, { ran: i + 2 });
    assert.equal(result.agent, otherId, "run by the other agent");
    assert.ok(afterDrainMs < DEFAULT_TOPOLOGY.jobAckWaitMs / 2, `answered ${afterDrainMs} ms after the drain began: not at once (ack wait ${DEFAULT_TOPOLOGY.jobAckWaitMs} ms)`);
    const record = await f.finalRecord(result.invocationId);
    assert.equal(record.status, "ok");
    assert.equal(record.agent, otherId);
    assert.equal(record.attempt, 2, "its first delivery was the draining agent's, handed back");
  }

  const { result } = await long;
  assert.equal(result.status, "ok", `the draining agent finishes its running call: ${JSON.stringify(result)}`);
  assert.deepEqual(result.output, { ran: 1 });
  assert.equal(result.agent, f.agentId);
  await stopping;
});
