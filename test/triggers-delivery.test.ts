// A stream trigger loses nothing across an agent SIGKILL and a gateway SIGKILL and restart. The fabric is separate
// processes (test/chaos/fabric.ts: its own nats-server and FerretDB, a controller, a gateway, two agents); every final
// record any agent publishes is tapped, and each message's invocation is identified by the event it ran with.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { ChaosFabric } from "./chaos/fabric.js";
import { eventually } from "./harness/eventually.js";

let f: ChaosFabric;

before(async () => {
  f = await ChaosFabric.start({ ackWaitMs: 3000, maxDeliver: 5, agentSlots: 4 }, join(tmpdir(), `weft-trigger-delivery-${process.pid}`));
});

after(async () => {
  const { orphans } = (await f?.stop()) ?? { orphans: 0 };
  assert.equal(orphans, 0, "containers left behind");
});

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(f.httpUrl + path, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** Message number → invocation ids whose final record (any attempt) carried that message's event. */
function invocationsByMessage(): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  for (const [id, finals] of f.finalsSeen) {
    for (const r of finals) {
      if (r.status !== "ok" || r.output === undefined) continue;
      const n = (JSON.parse(r.output) as { n?: number }).n;
      if (typeof n !== "number") continue;
      out.set(n, (out.get(n) ?? new Set()).add(id));
    }
  }
  return out;
}

test("a stream trigger loses nothing across an agent SIGKILL and a gateway SIGKILL; each message is one invocation", { timeout: 300_000 }, async () => {
  const fn = "orders-in";
  const code = "import time\ndef handler(event, context):\n    time.sleep(0.15)\n    return event\n";
  assert.equal((await api("PUT", `/v1/functions/${fn}`, { runtime: "python3", code })).status, 201);
  const jsm = await jetstreamManager(f.bus);
  await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
  const put = await api("PUT", "/v1/triggers/orders", { function: fn, stream: "ORDERS", maxInFlight: 20 });
  assert.equal(put.status, 201, JSON.stringify(put.body));

  const js = jetstream(f.bus);
  const N = 120;
  let next = 0;
  const publish = async (k: number) => {
    for (const end = next + k; next < end; next++) await js.publish(`orders.eu.${next % 7}`, JSON.stringify({ n: next }));
  };

  await publish(40);
  await eventually(async () => (f.busy("a") > 0 ? true : undefined), "agent a running trigger invocations", 60_000, 20);
  await f.proc("agent-a").signal("SIGKILL");
  await publish(40);
  await f.proc("gateway").signal("SIGKILL"); // mid-stream: messages it fetched and had not stored are never acked
  await publish(40); // JetStream keeps them while no gateway runs the trigger
  await f.restart("gateway");
  await f.restart("agent-a");

  const seen = await eventually(async () => {
    const m = invocationsByMessage();
    return m.size === N ? m : undefined;
  }, `an ok final record for each of the ${N} messages`, 120_000, 200).catch(async (err: Error) => {
    const m = invocationsByMessage();
    const missing = [...Array(N).keys()].filter((n) => !m.has(n));
    const trigger = (await api("GET", "/v1/triggers/orders")).body;
    throw new Error(`${err.message}: missing ${JSON.stringify(missing)}; finals tapped ${f.finalsSeen.size}; trigger ${JSON.stringify(trigger.counters)}`);
  });
  assert.deepEqual([...seen.keys()].sort((a, b) => a - b), [...Array(N).keys()]);
  const twice = [...seen].filter(([, ids]) => ids.size > 1);
  assert.deepEqual(twice, [], "a message redelivered to the trigger became a second invocation");

  // Counters are written once a second per gateway: the killed gateway's last second of counts is gone (README),
  // but the 40 messages published while no gateway ran are the restarted gateway's, and are counted.
  const trigger = await eventually(async () => {
    const g = await api("GET", "/v1/triggers/orders");
    return g.body.counters.lag === 0 && g.body.counters.delivered >= 40 ? g.body : undefined;
  }, "lag 0 and the restarted gateway's deliveries counted", 30_000, 200);
  assert.ok(trigger.counters.delivered <= N, `delivered ${trigger.counters.delivered} of ${N}`);
  assert.equal(trigger.counters.failed, 0);
});
