// The gateway's bounded memory of record ids it has counted (gateway/prometheus.ts), as pure logic.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RecentIds } from "../../gateway/prometheus.js";

test("an id is new once; past the capacity the oldest is forgotten first", () => {
  const ids = new RecentIds(3);
  assert.equal(ids.add("a"), true);
  assert.equal(ids.add("a"), false, "heard twice: counted once");
  for (const id of ["b", "c"]) assert.equal(ids.add(id), true);
  assert.equal(ids.add("d"), true);
  assert.equal(ids.size, 3);
  assert.equal(ids.add("b"), false, "still remembered");
  assert.equal(ids.add("a"), true, "the oldest, a, was forgotten when d came");
  assert.equal(ids.add("b"), true, "adding a forgot the next oldest, b");
  assert.equal(ids.add("d"), false, "the newest are remembered");
});

test("100,000 ids through a memory of 10,000 cost well under a microsecond each", () => {
  // The Set-only version found its oldest entry with values().next(), which walks the holes of earlier deletions:
  // 4.4 us an id here. The bound leaves room for a slow, shared machine.
  const ids = new RecentIds(10_000);
  const all = Array.from({ length: 100_000 }, (_, i) => `0193a5b2c3d4e5f60718293a4b5c6d7e${i}`);
  const t0 = performance.now();
  for (const id of all) ids.add(id);
  const usPerId = ((performance.now() - t0) * 1000) / all.length;
  assert.equal(ids.size, 10_000);
  assert.ok(usPerId < 2, `${usPerId.toFixed(2)} us per id`);
});
