// The gateway's registry of agents (gateway/agent-registry.ts) against a real nats-server: which agents may be a
// function's home on the direct path (runningIds): running, with direct slots, an id that can end a subject (as
// WEFT_AGENT_ID allows; a forged heartbeat may carry anything), heard from within the freshness window; and its
// cached list follows every heartbeat and ages agents out.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AgentRegistry } from "../gateway/agent-registry.js";
import { AGENT_HEARTBEAT_SUBJECT } from "../shared/subjects.js";
import type { AgentStatus } from "../shared/schemas/agent.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { until } from "./harness/eventually.js";
import { testLogger } from "./harness/fabric.js";

const FRESH_MS = 1500;
let server: NatsServer;
let nc: NatsConnection;
let registry: AgentRegistry;

before(async () => {
  server = await startNats();
  nc = await connect({ servers: server.url });
  registry = new AgentRegistry(nc, FRESH_MS, testLogger("registry"));
  await nc.flush();
});

after(async () => {
  registry?.stop();
  await nc?.close();
  await server?.cleanup();
});

const beat = (agentId: string, over: Partial<AgentStatus> = {}) =>
  nc.publish(AGENT_HEARTBEAT_SUBJECT, JSON.stringify({ agentId, host: "h", state: "running", slots: 8, busy: 0, containers: 0, stemCells: 0, at: Date.now(), directSlots: 256, ...over } satisfies AgentStatus));

/** Heartbeats travel through the server: wait until the registry holds `ids`. */
const holds = (ids: string[], what: string) => until(() => JSON.stringify(registry.runningIds()) === JSON.stringify(ids), `${what}: ${JSON.stringify(ids)} (has ${JSON.stringify(registry.runningIds())})`, 5000);

test("homes are the running agents with direct slots whose ids can end a subject, sorted, and follow every heartbeat", async () => {
  assert.deepEqual(registry.runningIds(), []);
  beat("b.host");
  beat("a-host");
  beat("no-direct", { directSlots: 0 });
  beat("old-agent", { directSlots: undefined });
  beat("bad..id");
  beat(`long.${"x".repeat(10_000)}`); // a forged heartbeat: an id no WEFT_AGENT_ID allows would be a 10 KiB subject
  beat("wild.>");
  beat("starting", { state: "starting" });
  await holds(["a-host", "b.host"], "only the two that take calls by name");
  // The list is cached; a draining agent leaves it with its next heartbeat, and a goodbye at once.
  beat("b.host", { state: "draining" });
  await holds(["a-host"], "the draining one gone");
  beat("b.host");
  await holds(["a-host", "b.host"], "running again");
  beat("a-host", { state: "stopped" });
  await holds(["b.host"], "the stopped one gone");
});

test("agents not heard from within the freshness window age out of the cached list, with no heartbeat to clear it", async () => {
  beat("fading");
  beat("b.host");
  await holds(["b.host", "fading"], "both heard");
  const heard = Date.now();
  await holds([], "both aged out");
  assert.ok(Date.now() - heard >= FRESH_MS - 50, `aged out after ${Date.now() - heard} ms, before the window of ${FRESH_MS} ms`);
});
