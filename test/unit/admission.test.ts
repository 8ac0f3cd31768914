// The gateway's sync admission bound (gateway/admission.ts): the slots bound, shrunk while the gateway's event loop
// never idles and it sheds, grown back when it has room, whole again once nothing is shed.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ADMISSION_WINDOW_MS, MIN_SYNC_BOUND, SyncAdmission, nextBound, slotsBound } from "../../gateway/admission.js";
import { eventually } from "../harness/eventually.js";

describe("the slots bound", () => {
  test("two calls per running slot, at least 8, at most WEFT_MAX_INFLIGHT; no agent known: WEFT_MAX_INFLIGHT", () => {
    assert.equal(slotsBound(32, 256), 64);
    assert.equal(slotsBound(1, 256), MIN_SYNC_BOUND);
    assert.equal(slotsBound(500, 256), 256);
    assert.equal(slotsBound(undefined, 256), 256);
    assert.equal(slotsBound(32, 4), 4);
  });
});

describe("the next bound after a window", () => {
  const saturated = { utilisation: 0.97, shed: 40 };
  test("shrinks by a fifth while the loop never idles and calls are shed, down to the floor", () => {
    assert.equal(nextBound(64, saturated, 8, 64), 51);
    let b = 64;
    for (let i = 0; i < 30; i++) b = nextBound(b, saturated, 8, 64);
    assert.equal(b, 8);
  });
  test("a window its timer ran late for shrinks as that many windows would, at most five", () => {
    assert.equal(nextBound(64, { ...saturated, lateness: 1.9 }, 8, 64), 51);
    assert.equal(nextBound(64, { ...saturated, lateness: 3 }, 8, 64), 32);
    assert.equal(nextBound(100, { ...saturated, lateness: 40 }, 8, 200), 32);
    assert.equal(nextBound(30, { utilisation: 0.5, shed: 5, lateness: 10 }, 8, 64), 33, "late but with room: it grows");
  });
  test("grows by a tenth while shedding with room on the loop, up to the ceiling", () => {
    assert.equal(nextBound(30, { utilisation: 0.5, shed: 5 }, 8, 64), 33);
    assert.equal(nextBound(30, { utilisation: 0.89, shed: 5 }, 8, 64), 33);
    assert.equal(nextBound(8, { utilisation: 0.5, shed: 5 }, 8, 64), 9);
    assert.equal(nextBound(63, { utilisation: 0.5, shed: 5 }, 8, 64), 64);
  });
  test("is the ceiling as soon as nothing is shed, however busy the loop", () => {
    assert.equal(nextBound(9, { utilisation: 1, shed: 0 }, 8, 64), 64);
  });
  test("never leaves [floor, ceiling], and a ceiling under the floor wins", () => {
    assert.equal(nextBound(200, { utilisation: 0.8, shed: 1 }, 8, 64), 64);
    assert.equal(nextBound(8, saturated, 8, 4), 4);
  });
});

/**
 * Sheds a call and holds the loop for two windows, turn after turn, until a window (saturated: it ends in such a
 * turn) has adapted the bound below `below`.
 */
async function shrinkBelow(admission: SyncAdmission, below: number): Promise<void> {
  await eventually(async () => {
    admission.noteShed();
    const until = performance.now() + 2 * ADMISSION_WINDOW_MS;
    while (performance.now() < until);
    await new Promise((r) => setImmediate(r));
    return admission.bound() < below ? true : undefined;
  }, "the bound shrank", 10_000, 0);
}

describe("SyncAdmission on a real event loop", () => {
  test("a loop kept busy while calls are shed lowers the bound; a window with nothing shed restores it", async () => {
    const admission = new SyncAdmission({ slots: () => 32, maxInflight: 256, adaptive: true });
    admission.start();
    try {
      assert.equal(admission.bound(), 64);
      await shrinkBelow(admission, 64);
      assert.ok(admission.bound() >= MIN_SYNC_BOUND);
      await eventually(async () => (admission.bound() === 64 ? true : undefined), "the bound restored", 5000, 20);
    } finally {
      admission.stop();
    }
  });

  test("adaptive, with nothing shed: the slots bound follows the agents at once, between windows", () => {
    let slots: number | undefined = 5;
    const admission = new SyncAdmission({ slots: () => slots, maxInflight: 256, adaptive: true });
    admission.start();
    try {
      assert.equal(admission.bound(), 10);
      slots = undefined;
      assert.equal(admission.bound(), 256, "no agent known: WEFT_MAX_INFLIGHT, without waiting for a window");
      slots = 40;
      assert.equal(admission.bound(), 80);
    } finally {
      admission.stop();
    }
  });

  test("adaptive, after a window that shed: when the agents change, the new slots bound holds at once", async () => {
    let slots: number | undefined = 5;
    const admission = new SyncAdmission({ slots: () => slots, maxInflight: 256, adaptive: true });
    admission.start();
    try {
      await shrinkBelow(admission, 10);
      slots = undefined;
      assert.equal(admission.bound(), 256, "no agent known: WEFT_MAX_INFLIGHT, not the bound adapted to 5 slots");
      slots = 40;
      assert.equal(admission.bound(), 80, "a new agent: its slots bound, not the bound adapted to 5 slots");
      slots = 5;
      assert.ok(admission.bound() < 10, "the same agents again: the bound adapted under them still holds");
    } finally {
      admission.stop();
    }
  });

  test("not adaptive: the slots bound alone, whatever the loop does", () => {
    let slots: number | undefined = 10;
    const admission = new SyncAdmission({ slots: () => slots, maxInflight: 256, adaptive: false });
    assert.equal(admission.bound(), 20);
    slots = undefined;
    assert.equal(admission.bound(), 256);
  });
});
