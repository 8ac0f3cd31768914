// The short version of the chaos suite (npm run chaos -- --short): an agent SIGKILLed with >= 50 calls in
// flight, every delivery of one job killed, and a nats-server SIGKILL, each on its own private fabric of
// separate processes, audited from the records. The full suite is `npm run chaos`. Then the short cluster
// version (npm run chaos -- --cluster --short): the nats-server leading WEFT_JOBS SIGKILLed on a three-node
// cluster with R3 streams, two controllers, two gateways and two agents each on a host of its own (network
// namespaces: needs root).
import { test } from "node:test";
import assert from "node:assert/strict";
import { runChaos } from "./chaos/chaos.js";

test("chaos, short: no accepted invocation is lost or ends with a false outcome", { timeout: 600_000 }, async () => {
  const lines: string[] = [];
  const { results } = await runChaos({ short: true, log: (l) => lines.push(l) });
  const table = lines.join("\n");
  assert.deepEqual(results.map((r) => r.name), ["agent-sigkill", "every-delivery-killed", "nats-kill"]);
  for (const r of results) {
    assert.ok(r.accepted > 0, `${r.name}: nothing accepted\n${table}`);
    assert.equal(r.lost, 0, `${r.name}: lost\n${table}`);
    assert.equal(r.wrong, 0, `${r.name}: wrong outcomes\n${table}`);
    assert.equal(r.orphans, 0, `${r.name}: orphan containers\n${table}`);
    assert.equal(r.stuckJobs, 0, `${r.name}: jobs left in WEFT_JOBS\n${table}`);
    assert.ok(r.passed, `${r.name}: ${r.failures.join("; ")}\n${table}`);
  }
  const kill = results.find((r) => r.name === "agent-sigkill")!;
  assert.ok(Number(kill.notes.inFlightAtKill) >= 50, `agent-sigkill: only ${kill.notes.inFlightAtKill} calls in flight at the kill`);
  const doomed = results.find((r) => r.name === "every-delivery-killed")!;
  assert.equal(doomed.notes.deliveriesKilled, 3);
});

test("chaos, cluster short: a NATS node SIGKILLed under load loses nothing and fails no sync call", { timeout: 300_000 }, async () => {
  const lines: string[] = [];
  const { results } = await runChaos({ short: true, cluster: true, log: (l) => lines.push(l) });
  const table = lines.join("\n");
  assert.deepEqual(results.map((r) => r.name), ["cluster-nats-kill"]);
  const [r] = results;
  assert.ok(r!.accepted > 0, `nothing accepted\n${table}`);
  assert.equal(r!.lost, 0, `lost\n${table}`);
  assert.equal(r!.wrong, 0, `wrong outcomes\n${table}`);
  assert.equal(r!.sync.failedRetryable, 0, `sync calls failed retryably\n${table}`);
  assert.ok(r!.sync.ok >= 20, `only ${r!.sync.ok} sync calls answered ok\n${table}`);
  assert.match(String(r!.notes.killedNode), /^nats-[123]$/, "the killed node was one of the cluster's");
  assert.ok(r!.passed, `${r!.failures.join("; ")}\n${table}`);
});
