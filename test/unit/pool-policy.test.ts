// The warm-pool policy on its own: plain data in, a decision out; no Docker.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decide,
  expectedQueueMs,
  expired,
  memoryInUse,
  minWarmDeficit,
  stemDeficit,
  type Budget,
  type ContainerView,
  type Load,
  type Need,
} from "../../agents/pool-policy.js";

const budget = (memoryMb = 4096): Budget => ({ memoryMb, resizable: (i) => i === "runc" });

const need = (over: Partial<Need> = {}): Need => ({
  key: "f@1",
  runtime: "python3.13",
  isolation: "runc",
  memoryMb: 256,
  cpus: undefined,
  ...over,
});

let seq = 0;
const view = (over: Partial<ContainerView> = {}): ContainerView => ({
  ref: `c${++seq}`,
  key: "f@1",
  runtime: "python3.13",
  isolation: "runc",
  memoryMb: 256,
  cpus: undefined,
  state: "ready",
  initialised: true,
  leases: 0,
  capacity: 1,
  lastUsedAt: 1000,
  ...over,
});
const stem = (over: Partial<ContainerView> = {}) => view({ key: undefined, initialised: false, ...over });

describe("decide", () => {
  test("a warm container of the same version wins, the most recently used first", () => {
    const old = view({ lastUsedAt: 1 });
    const recent = view({ lastUsedAt: 5 });
    assert.deepEqual(decide(need(), [old, recent, stem()], budget()), { kind: "warm", ref: recent.ref });
  });

  test("a busy container is not warm unless it has spare concurrency", () => {
    const busy = view({ leases: 1, capacity: 1 });
    const shared = view({ leases: 1, capacity: 4 });
    assert.deepEqual(decide(need(), [busy, shared], budget()), { kind: "warm", ref: shared.ref });
    assert.equal(decide(need(), [busy], budget()).kind, "cold");
  });

  test("another version's container is never used", () => {
    const other = view({ key: "f@2" });
    assert.deepEqual(decide(need(), [other], budget()), { kind: "cold", evict: [] });
  });

  test("a container of the version still loading its code with a free slot is joined", () => {
    const loading = view({ initialised: false, state: "starting", leases: 1, capacity: 2 });
    assert.deepEqual(decide(need(), [loading, stem()], budget()), { kind: "join", ref: loading.ref });
  });

  test("a stem cell of the same runtime and isolation is used before a cold start", () => {
    const wrongRuntime = stem({ runtime: "nodejs20" });
    const wrongIsolation = stem({ isolation: "gvisor" });
    const right = stem();
    assert.deepEqual(decide(need(), [wrongRuntime, wrongIsolation, right], budget()), { kind: "stem", ref: right.ref, resize: false });
  });

  test("a stem cell of another size is resized on runc, never on gvisor", () => {
    const small = stem({ memoryMb: 128 });
    assert.deepEqual(decide(need(), [small], budget()), { kind: "stem", ref: small.ref, resize: true });
    const gv = stem({ memoryMb: 128, isolation: "gvisor" });
    assert.deepEqual(decide(need({ isolation: "gvisor" }), [gv], budget()), { kind: "cold", evict: [] });
    const gvSame = stem({ isolation: "gvisor" });
    assert.deepEqual(decide(need({ isolation: "gvisor" }), [gv, gvSame], budget()), { kind: "stem", ref: gvSame.ref, resize: false });
  });

  test("a stem cell of the right size is preferred to one needing a resize", () => {
    const small = stem({ memoryMb: 128 });
    const exact = stem();
    assert.deepEqual(decide(need(), [small, exact], budget()), { kind: "stem", ref: exact.ref, resize: false });
  });

  test("a leased or departing stem cell is not taken; a starting one is, after any ready one", () => {
    assert.equal(decide(need(), [stem({ leases: 1 }), stem({ state: "removing" })], budget()).kind, "cold");
    const starting = stem({ state: "starting" });
    assert.deepEqual(decide(need(), [starting], budget()), { kind: "stem", ref: starting.ref, resize: false });
    const ready = stem({ memoryMb: 128 });
    assert.deepEqual(decide(need(), [starting, ready], budget()), { kind: "stem", ref: ready.ref, resize: true });
  });

  test("over budget: the least recently used idle containers of other versions are evicted, stem cells last", () => {
    const a = view({ key: "g@1", lastUsedAt: 10 });
    const b = view({ key: "h@1", lastUsedAt: 5 });
    const s = stem({ lastUsedAt: 1, runtime: "nodejs20" });
    const busy = view({ key: "k@1", leases: 1 });
    const views = [a, b, s, busy];
    assert.deepEqual(decide(need(), views, budget(1024)), { kind: "cold", evict: [b.ref] });
    assert.deepEqual(decide(need({ memoryMb: 512 }), views, budget(1024)), { kind: "cold", evict: [b.ref, a.ref] });
    assert.deepEqual(decide(need({ memoryMb: 768 }), views, budget(1024)), { kind: "cold", evict: [b.ref, a.ref, s.ref] });
  });

  test("nothing to evict: wait for a container to free up", () => {
    const busy = [view({ leases: 1 }), view({ key: "g@1", leases: 1 })];
    assert.deepEqual(decide(need(), busy, budget(512)), { kind: "wait" });
  });

  test("a function larger than the whole budget is impossible, not a wait", () => {
    assert.equal(decide(need({ memoryMb: 2048 }), [], budget(1024)).kind, "impossible");
  });

  test("containers being removed count against memory but are never chosen", () => {
    const removing = view({ state: "removing" });
    assert.deepEqual(decide(need(), [removing], budget(512)), { kind: "cold", evict: [] });
    assert.deepEqual(decide(need(), [removing, view({ key: "g@1", leases: 1 })], budget(512)), { kind: "wait" });
  });
});

describe("queueing behind busy containers", () => {
  const busy = () => view({ leases: 1 });
  const load = (over: Partial<Load> = {}): Load => ({ waiting: 0, expectedRunMs: 1, coldStartMs: 250, ...over });

  test("a short invocation queues behind its busy container instead of starting a new one", () => {
    assert.deepEqual(decide(need(), [busy()], budget(), load()), { kind: "queue" });
  });

  test("a long invocation, or a long queue, starts a new container", () => {
    assert.equal(decide(need(), [busy()], budget(), load({ expectedRunMs: 500 })).kind, "cold");
    assert.equal(decide(need(), [busy()], budget(), load({ waiting: 200 })).kind, "cold");
  });

  test("more busy containers shorten the expected wait", () => {
    // 199 waiting behind one container at 1 ms each is 200 ms (≥ half a 250 ms cold start); behind two, 100 ms.
    assert.equal(decide(need(), [busy()], budget(), load({ waiting: 199 })).kind, "cold");
    assert.deepEqual(decide(need(), [busy(), busy()], budget(), load({ waiting: 199 })), { kind: "queue" });
  });

  test("a stem cell is taken only when the queue is as long as for a cold start (replacing it is a container start)", () => {
    const s = stem();
    assert.deepEqual(decide(need(), [busy(), s], budget(), load({ waiting: 30 })), { kind: "queue" });
    assert.deepEqual(decide(need(), [busy(), s], budget(), load({ waiting: 200 })), { kind: "stem", ref: s.ref, resize: false });
  });

  test("while warm containers serve, a version grows by one new container at a time", () => {
    const starting = view({ state: "starting", initialised: false, leases: 1 });
    assert.deepEqual(decide(need(), [busy(), starting], budget(), load({ expectedRunMs: 500 })), { kind: "queue" });
    assert.equal(decide(need(), [starting], budget(), load({ expectedRunMs: 500 })).kind, "cold", "no warm container: do not wait on a start");
  });

  test("jobs that waited past their patience grow the version one container at a time too", () => {
    // A stalled host makes every parked job give up at once; with no estimate left, each used to start a container.
    const starting = view({ state: "starting", initialised: false, leases: 1 });
    const gaveUp = load({ expectedRunMs: undefined, waiting: 30 });
    assert.equal(decide(need(), [busy()], budget(), gaveUp).kind, "cold", "the first one starts a container");
    assert.deepEqual(decide(need(), [busy(), starting], budget(), gaveUp), { kind: "queue" }, "the others wait for it");
    const s = stem();
    assert.deepEqual(decide(need(), [busy(), starting, s], budget(), gaveUp), { kind: "queue" }, "nor take a stem cell meanwhile");
    assert.equal(decide(need(), [starting], budget(), gaveUp).kind, "cold", "a first burst, with nothing warm yet, still starts at once");
  });

  test("nothing is queued on before any invocation of the version has finished", () => {
    assert.equal(decide(need(), [busy()], budget(), load({ expectedRunMs: undefined })).kind, "cold");
    assert.equal(expectedQueueMs(need(), [busy()], load({ expectedRunMs: undefined })), undefined);
    assert.equal(expectedQueueMs(need(), [], load()), undefined);
  });
});

describe("expiry", () => {
  test("idle bound containers past keep-alive expire; busy, fresh and stem cells do not", () => {
    const old = view({ lastUsedAt: 0 });
    const fresh = view({ lastUsedAt: 9_500 });
    const busy = view({ lastUsedAt: 0, leases: 1 });
    const s = stem({ lastUsedAt: 0 });
    assert.deepEqual(expired([old, fresh, busy, s], 10_000, 1000, new Map()), [old.ref]);
  });

  test("minWarm keeps that many of the version, the most recently used", () => {
    const a = view({ lastUsedAt: 1 });
    const b = view({ lastUsedAt: 2 });
    const c = view({ lastUsedAt: 3 });
    assert.deepEqual(expired([a, b, c], 10_000, 1000, new Map([["f@1", 2]])), [a.ref]);
  });
});

describe("pre-starting", () => {
  test("minWarm deficit counts the version's live containers and stops at the budget", () => {
    assert.equal(minWarmDeficit(need(), 3, [view()], budget()), 2);
    assert.equal(minWarmDeficit(need(), 3, [view({ state: "removing" })], budget()), 3);
    assert.equal(minWarmDeficit(need(), 3, [view()], budget(512)), 1);
    assert.equal(minWarmDeficit(need(), 1, [view(), view()], budget()), 0);
  });

  test("stem deficit per runtime × isolation, within the budget", () => {
    const targets = [
      { runtime: "python3.13", isolation: "runc", count: 2, memoryMb: 256 },
      { runtime: "nodejs20", isolation: "gvisor", count: 1, memoryMb: 256 },
    ] as const;
    assert.deepEqual(
      stemDeficit(targets, [stem()], budget()).map((t) => [t.runtime, t.isolation, t.count]),
      [["python3.13", "runc", 1], ["nodejs20", "gvisor", 1]],
    );
    assert.deepEqual(stemDeficit(targets, [stem()], budget(512)).map((t) => t.count), [1]);
    assert.deepEqual(stemDeficit(targets, [stem(), stem(), stem({ runtime: "nodejs20", isolation: "gvisor" })], budget()), []);
  });

  test("memory in use sums every live container", () => {
    assert.equal(memoryInUse([view(), stem({ memoryMb: 128 })]), 384);
  });
});
