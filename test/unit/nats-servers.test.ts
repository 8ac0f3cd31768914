// The nats-server configurations npm run up writes: one server, or a cluster on loopback with routes to every node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serverGoMaxProcs } from "../../deploy/go-servers.js";
import { natsConfig, planNats, plannedPorts } from "../../deploy/nats-servers.js";

test("one node keeps the store and name it always had, with one replica", () => {
  const plan = planNats({ size: 1, port: 4222, stateDir: "/s", configDir: "/c" });
  assert.equal(plan.replicas, 1);
  assert.equal(plan.url, "nats://127.0.0.1:4222");
  assert.equal(plan.nodes[0]?.storeDir, "/s/nats");
  const conf = natsConfig(plan.nodes[0]!, plan);
  assert.match(conf, /server_name: weft-local/);
  assert.match(conf, /max_payload: 8388608/);
  assert.doesNotMatch(conf, /cluster/);
  assert.doesNotMatch(conf, /sync_interval/);
});

test("three nodes: consecutive client ports, routes 2000 above, every node routed to every node, R3", () => {
  const plan = planNats({ size: 3, port: 4222, stateDir: "/s", configDir: "/c" });
  assert.equal(plan.replicas, 3);
  assert.equal(plan.url, "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224");
  assert.deepEqual(plannedPorts(plan).map((p) => p.port), [4222, 6222, 4223, 6223, 4224, 6224]);
  assert.equal(new Set(plan.nodes.map((n) => n.storeDir)).size, 3);
  const conf = natsConfig(plan.nodes[1]!, plan, "always");
  assert.match(conf, /server_name: weft-2/);
  assert.match(conf, /listen: 127\.0\.0\.1:4223/);
  assert.match(conf, /cluster \{ name: weft-local, listen: 127\.0\.0\.1:6223, routes: \[nats-route:\/\/127\.0\.0\.1:6222, nats-route:\/\/127\.0\.0\.1:6223, nats-route:\/\/127\.0\.0\.1:6224\] \}/);
  assert.match(conf, /sync_interval: always/);
});

test("five nodes still get three replicas", () => {
  assert.equal(planNats({ size: 5, port: 4222, stateDir: "/s", configDir: "/c" }).replicas, 3);
});

test("nats-server and FerretDB GOMAXPROCS: the configured value, else half the host's cores and at least 1", () => {
  assert.equal(serverGoMaxProcs(0, 2), 1);
  assert.equal(serverGoMaxProcs(0, 1), 1);
  assert.equal(serverGoMaxProcs(0, 8), 4);
  assert.equal(serverGoMaxProcs(0, 7), 3);
  assert.equal(serverGoMaxProcs(3, 2), 3, "a configured value wins, even past the cores");
});
