// The chaos suite's audit (test/chaos/audit.ts): what counts as lost, duplicated and wrong.
import { test } from "node:test";
import assert from "node:assert/strict";
import { audit, recordLags, recoveryLags } from "../chaos/audit.js";
import type { Accepted } from "../chaos/load.js";
import type { StoredFinal, TappedFinal } from "../chaos/fabric.js";

const okCall: Accepted = { fn: "f", client: "http", mode: "async", expect: { status: "ok" }, acceptedAt: 0 };
const ok = (id: string, attempt: number): StoredFinal => ({ _id: id, status: "ok", attempt, outputJson: JSON.stringify({ id, attempt }) });

test("a stored ok naming its own invocation and attempt is right; a missing final is lost", () => {
  const accepted = new Map([["a", okCall], ["b", okCall]]);
  const c = audit(accepted, new Map([["a", ok("a", 1)]]), new Map());
  assert.deepEqual([c.accepted, c.lost, c.wrong, c.duplicates], [2, 1, 0, 0]);
});

test("a later attempt counts as a duplicate; two attempts with handler outcomes prove one", () => {
  const accepted = new Map([["a", okCall], ["b", okCall]]);
  const seen = new Map<string, TappedFinal[]>([["b", [{ at: 0, attempt: 1, status: "ok" }, { at: 1, attempt: 2, status: "ok" }]]]);
  const c = audit(accepted, new Map([["a", ok("a", 2)], ["b", ok("b", 1)]]), seen);
  assert.deepEqual([c.duplicates, c.provenDuplicates, c.wrong], [2, 1, 0]);
});

test("wrong outcomes: another status, another invocation's output, or not ok although an attempt published ok", () => {
  const accepted = new Map([["a", okCall], ["b", okCall], ["c", { ...okCall, expect: { status: "killed" as const, errorCode: "PLATFORM_ERROR" } }]]);
  const stored = new Map<string, StoredFinal>([
    ["a", { _id: "a", status: "timeout", attempt: 1 }],
    ["b", { _id: "b", status: "ok", attempt: 1, outputJson: JSON.stringify({ id: "x", attempt: 1 }) }],
    ["c", { _id: "c", status: "killed", error: { code: "PLATFORM_ERROR" } }],
  ]);
  const c = audit(accepted, stored, new Map([["c", [{ at: 0, attempt: 2, status: "ok" }]]]));
  assert.equal(c.wrong, 3);
  assert.equal(c.examples.wrong.length, 3);
});

test("a job whose deliveries all died with their agents may end killed/PLATFORM_ERROR (after an error too), unless an attempt succeeded", () => {
  const accepted = new Map([["bystander", okCall], ["succeeded", okCall], ["failed", okCall], ["spared", okCall]]);
  const killed = (id: string): StoredFinal => ({ _id: id, status: "killed", attempt: 3, error: { code: "PLATFORM_ERROR" } });
  const stored = new Map<string, StoredFinal>(["bystander", "succeeded", "failed", "spared"].map((id) => [id, killed(id)]));
  const seen = new Map<string, TappedFinal[]>([
    ["bystander", [{ at: 0, attempt: 3, status: "killed" }]],
    ["succeeded", [{ at: 0, attempt: 2, status: "ok" }]],
    ["failed", [{ at: 0, attempt: 1, status: "error" }]],
  ]);
  const c = audit(accepted, stored, seen, (id) => id !== "spared");
  assert.equal(c.wrong, 2);
  assert.deepEqual(c.examples.wrong.map((w) => w.split(" ")[0]).sort(), ["spared", "succeeded"]);
});

test("recovery is timed from recovery, or from acceptance for a call accepted later; longest first", () => {
  const accepted = new Map<string, Accepted>([
    ["early", { ...okCall, acceptedAt: 500 }],
    ["late", { ...okCall, acceptedAt: 20_000 }],
    ["missing", { ...okCall, acceptedAt: 0 }],
  ]);
  const storedAt = new Map([["early", 4000], ["late", 20_300]]);
  assert.deepEqual(recoveryLags(accepted, storedAt, 1000), [{ id: "early", ms: 3000 }, { id: "late", ms: 300 }]);
  assert.deepEqual(recoveryLags(new Map([["before", okCall]]), new Map([["before", 200]]), 1000), [{ id: "before", ms: 0 }]);
});

test("the records path is timed from recovery, or from the final's first publish if later", () => {
  const published = new Map([["ran-late", 9000], ["held", 500]]);
  const stored = new Map([["ran-late", 9400], ["held", 2500]]);
  assert.deepEqual(recordLags(published, stored, 1000), [{ id: "held", ms: 1500 }, { id: "ran-late", ms: 400 }]);
});
