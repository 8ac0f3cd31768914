// A schedule trigger fires exactly once per tick with two gateways and two controllers running (all of them
// in-process on one private nats-server, the same MongoDB database, one agent): every tick between the first and the
// last has exactly one invocation, and no tick has two.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startNats, type NatsServer } from "./harness/nats.js";
import { mongoUrl, uniqueDbName } from "./harness/mongo.js";
import { eventually, http, testLogger, waitUntilHealthy } from "./harness/fabric.js";
import { RecordTap } from "./harness/record-tap.js";
import { loadControllerConfig } from "../controller/config.js";
import { startController } from "../controller/app.js";
import { loadAgentConfig } from "../agents/config.js";
import { startAgent } from "../agents/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { startGateway } from "../gateway/app.js";

type Stoppable = { stop(): Promise<void> };
let nats: NatsServer;
const parts: Stoppable[] = [];
let urls: string[] = [];
let tap: RecordTap;

before(async () => {
  nats = await startNats();
  const common = { WEFT_NATS_URL: nats.url, WEFT_LOG_LEVEL: "info" };
  const db = { WEFT_MONGO_URL: mongoUrl(), WEFT_MONGO_DB: uniqueDbName("sched") };
  for (const i of [1, 2]) parts.push(await startController(loadControllerConfig({ ...common, ...db }), testLogger(`controller-${i}`)));
  parts.push(await startAgent(loadAgentConfig({ ...common, WEFT_AGENT_ID: `sched-${randomBytes(3).toString("hex")}`, WEFT_EXEC_POOL_SIZE: "0" }), testLogger("agent")));
  for (const i of [1, 2]) {
    const g = await startGateway(loadGatewayConfig({ ...common, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0" }), testLogger(`gateway-${i}`));
    parts.push(g);
    urls.push(`http://127.0.0.1:${g.httpPort}`);
  }
  for (const u of urls) await waitUntilHealthy(u);
  tap = await RecordTap.start(nats.url);
});

after(async () => {
  await tap?.stop();
  for (const p of parts.reverse()) await p.stop().catch(() => undefined);
  await nats?.cleanup();
});

test("rate(1 second) with two gateways and two controllers: one invocation per tick, none missed, none twice", { timeout: 120_000 }, async () => {
  const fn = "ticker";
  const code = "def handler(event, context):\n    return event\n";
  assert.equal((await http(urls[0]!, "PUT", `/v1/functions/${fn}`, { runtime: "python3", code })).status, 201);
  const put = await http(urls[1]!, "PUT", "/v1/triggers/every-second", { function: fn, schedule: "rate(1 second)" });
  assert.equal(put.status, 201, JSON.stringify(put.body));

  const TICKS = 12;
  const ticksOf = () => {
    const byTick = new Map<string, Set<string>>();
    for (const id of tap.idsStartingWith("")) {
      for (const r of tap.finalsOf(id)) {
        if (r.functionName !== fn || r.status !== "ok") continue;
        const { time, trigger } = JSON.parse(String(r.output)) as { time: string; trigger: string };
        assert.equal(trigger, "every-second");
        byTick.set(time, (byTick.get(time) ?? new Set()).add(id));
      }
    }
    return byTick;
  };
  await eventually(async () => (ticksOf().size >= TICKS ? true : undefined), `${TICKS} ticks`, 60_000, 100);
  const paused = await http(urls[0]!, "POST", "/v1/triggers/every-second/pause");
  assert.equal(paused.body.state, "paused");
  // Let what was already queued finish before judging: a tick stored just before the pause still runs.
  const settled = await eventually(async () => {
    const before = ticksOf().size;
    await new Promise((r) => setTimeout(r, 1500));
    return ticksOf().size === before ? ticksOf() : undefined;
  }, "the last ticks to end", 30_000, 0);

  const times = [...settled.keys()].map(Date.parse).sort((a, b) => a - b);
  for (const t of times) assert.equal(t % 1000, 0, "ticks are on whole seconds");
  for (let i = 1; i < times.length; i++) assert.equal(times[i]! - times[i - 1]!, 1000, `tick missing after ${new Date(times[i - 1]!).toISOString()}`);
  const twice = [...settled].filter(([, ids]) => ids.size > 1);
  assert.deepEqual(twice, [], "a tick ran as two invocations");
  for (const ids of settled.values()) for (const id of ids) assert.equal(tap.finalsOf(id).length, 1);

  const counters = await eventually(async () => {
    const g = await http(urls[1]!, "GET", "/v1/triggers/every-second");
    return g.body.counters.delivered === settled.size ? g.body.counters : undefined;
  }, "delivered = ticks, summed over both gateways", 10_000, 200);
  assert.equal(counters.failed, 0);
});
