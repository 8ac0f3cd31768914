// What keeps a trigger off Weft's own data and out of endless loops: the stream name rule, the subject overlap a
// stream is checked with, and the chain depth a trigger reads from its message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { headers } from "@nats-io/transport-node";
import { TriggerSpec } from "../../shared/schemas/trigger.js";
import { subjectsOverlap } from "../../shared/subjects.js";
import { HEADERS } from "../../shared/headers.js";
import { LIMITS } from "../../shared/limits.js";
import { refuseInternalStream } from "../../gateway/triggers-service.js";
import { chainDepthOf, tooDeep } from "../../gateway/triggers-runner.js";
import { WeftError } from "../../shared/errors.js";

test("a stream trigger on a Weft stream, KV bucket or object store is refused by name, naming stream", () => {
  for (const stream of ["KV_weft-functions", "WEFT_DEAD_LETTERS", "WEFT_JOBS", "OBJ_weft-code"]) {
    const r = TriggerSpec.safeParse({ function: "f", stream, deliverPolicy: "all" });
    assert.equal(r.success, false, stream);
    assert.deepEqual(r.error!.issues[0]!.path, ["stream"]);
  }
  assert.ok(TriggerSpec.safeParse({ function: "f", stream: "ORDERS_KV_" }).success);
});

test("subjectsOverlap follows NATS wildcards", () => {
  const yes: Array<[string, string]> = [
    ["weft.jobs.f", "weft.>"], [">", "weft.>"], ["*.jobs.f", "weft.>"], ["$KV.weft-functions.*", "$KV.>"], ["a.*", "*.b"], ["a.b", "a.b"],
  ];
  const no: Array<[string, string]> = [["weft", "weft.>"], ["orders.>", "weft.>"], ["a.b", "a.c"], ["a.b.c", "a.*"], ["_INBOXX.a", "_INBOX.>"]];
  for (const [a, b] of yes) assert.ok(subjectsOverlap(a, b) && subjectsOverlap(b, a), `${a} ~ ${b}`);
  for (const [a, b] of no) assert.ok(!subjectsOverlap(a, b) && !subjectsOverlap(b, a), `${a} !~ ${b}`);
});

test("a stream capturing Weft's or NATS's subjects, or copying a Weft stream, is refused naming stream", () => {
  const refused = (config: Record<string, unknown>) => {
    assert.throws(() => refuseInternalStream({ config: { name: "X", ...config } as never }), (e: unknown) => e instanceof WeftError && e.code === "INVALID_ARGUMENT" && e.field === "stream", JSON.stringify(config));
  };
  for (const s of ["weft.>", ">", "*.jobs.f", "$KV.weft-functions.>", "$O.x.>", "$JS.API.>", "_INBOX.*"]) refused({ subjects: ["orders.>", s] });
  refused({ mirror: { name: "KV_weft-functions" } });
  refused({ sources: [{ name: "ORDERS" }, { name: "WEFT_DEAD_LETTERS" }] });
  refuseInternalStream({ config: { name: "ORDERS", subjects: ["orders.>", "weftish.>"], sources: [{ name: "OTHER" }] } as never });
});

test("a trigger reads the chain depth from its message and refuses past the limit", () => {
  const h = headers();
  assert.equal(chainDepthOf(undefined), 0);
  assert.equal(chainDepthOf(h), 0);
  h.set(HEADERS.chainDepth, "nope");
  assert.equal(chainDepthOf(h), 0);
  h.set(HEADERS.chainDepth, "3");
  assert.equal(chainDepthOf(h), 3);
  assert.equal(tooDeep(LIMITS.chainDepth), false);
  assert.equal(tooDeep(LIMITS.chainDepth + 1), true);
});
