// Grouping a records batch by function (controller/invocation-pages.ts, byScope) before its listing pages are
// written. After a controller restart the first pull can carry tens of thousands of one function's records; the
// grouping once copied the group on every record, which blocked the controller's event loop for 70 s at 25,000
// records on a loaded machine (no acks, no NATS heartbeats, nothing stored). Linear now: the bound below is ~100
// times what it takes, and thousands of times under what the copying took.
import { test } from "node:test";
import assert from "node:assert/strict";
import { byScope } from "../../controller/invocation-pages.js";
import { finalEvent } from "../fixtures/record-events.js";

test("a batch is grouped by function incarnation, each group in storing order", () => {
  const a1 = finalEvent("a", { incarnation: "1" });
  const b = finalEvent("b");
  const a2 = finalEvent("a", { incarnation: "1" });
  const aOld = finalEvent("a", { incarnation: "0" });
  const groups = byScope([a1, b, a2, aOld]);
  assert.deepEqual([...groups.keys()], ["a@1", "b", "a@0"]);
  assert.deepEqual(groups.get("a@1"), [a1, a2]);
  assert.deepEqual(groups.get("b"), [b]);
  assert.deepEqual(groups.get("a@0"), [aOld]);
});

test("100,000 records of one function are grouped in well under a second", () => {
  const one = finalEvent("hot", { incarnation: "x" });
  const events = Array.from({ length: 100_000 }, (_, i) => ({ ...one, invocationId: `id-${i}` }));
  const started = performance.now();
  const groups = byScope(events);
  const ms = performance.now() - started;
  assert.equal(groups.get("hot@x")?.length, 100_000);
  assert.equal(groups.get("hot@x")?.[99_999]?.invocationId, "id-99999");
  assert.ok(ms < 2000, `grouping took ${ms.toFixed(0)} ms`);
});
