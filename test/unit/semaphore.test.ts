import assert from "node:assert/strict";
import { test } from "node:test";
import { Semaphore } from "../../shared/semaphore.js";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test("a semaphore runs at most its size at once, the rest in arrival order", async () => {
  const s = new Semaphore(2);
  const gates = [deferred(), deferred(), deferred(), deferred()];
  const started: number[] = [];
  let running = 0;
  let most = 0;
  const runs = gates.map((g, i) =>
    s.run(async () => {
      started.push(i);
      most = Math.max(most, ++running);
      await g.promise;
      running--;
      return i;
    }),
  );
  await Promise.resolve();
  assert.deepEqual(started, [0, 1]);
  assert.equal(s.queued, 2);
  assert.equal(s.full, true);
  gates[1]!.resolve();
  await runs[1];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1, 2]);
  for (const g of gates) g.resolve();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
  assert.equal(most, 2);
  assert.equal(s.queued, 0);
});

test("a failed holder frees its place", async () => {
  const s = new Semaphore(1);
  await assert.rejects(s.run(async () => { throw new Error("install failed"); }), /install failed/);
  assert.equal(await s.run(async () => "next"), "next");
});

test("a semaphore needs a size of at least 1", () => {
  assert.throws(() => new Semaphore(0), RangeError);
});
