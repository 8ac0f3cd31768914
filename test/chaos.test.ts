// The short version of the chaos suite (npm run chaos -- --short): an agent SIGKILLed with >= 50 calls in
// flight, every delivery of one job killed, and a nats-server SIGKILL, each on its own private fabric of
// separate processes, audited from the records. The full suite is `npm run chaos`.
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
