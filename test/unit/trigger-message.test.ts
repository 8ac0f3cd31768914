import { test } from "node:test";
import assert from "node:assert/strict";
import { headers } from "@nats-io/transport-node";
import { LIMITS } from "../../shared/limits.js";
import { parseTriggerMessage, triggerMessageOf } from "../../shared/trigger-message.js";
import { WeftError } from "../../shared/errors.js";

test("headers become name -> value, several values joined by ', '", () => {
  const h = headers();
  h.set("A", "1");
  h.append("B", "x");
  h.append("B", "y");
  assert.deepEqual(triggerMessageOf("s.t", h), { subject: "s.t", headers: { A: "1", B: "x, y" } });
  assert.deepEqual(triggerMessageOf("s.t", undefined), { subject: "s.t", headers: {} });
});

test("past the count or the size: INVALID_ARGUMENT naming headers", () => {
  const many = headers();
  for (let i = 0; i <= LIMITS.triggerMessage.headers; i++) many.set(`H${i}`, "v");
  const big = headers();
  big.set("Big", "v".repeat(LIMITS.triggerMessage.bytes));
  for (const h of [many, big]) {
    assert.throws(() => triggerMessageOf("s", h), (e: unknown) => e instanceof WeftError && e.code === "INVALID_ARGUMENT" && e.field === "headers");
  }
});

test("the agent's side drops a header that is malformed or past the limits, never throws", () => {
  assert.deepEqual(parseTriggerMessage('{"subject":"a","headers":{"K":"v"}}'), { subject: "a", headers: { K: "v" } });
  for (const bad of [undefined, "", "not json", "[]", '{"subject":"a"}', '{"subject":"a","headers":{"K":1}}', '{"subject":"a","headers":{"bad name":"v"}}',
    '{"subject":"a","headers":{},"extra":1}', JSON.stringify({ subject: "a", headers: { K: "v".repeat(LIMITS.triggerMessage.bytes) } }),
    JSON.stringify({ subject: "a", headers: Object.fromEntries(Array.from({ length: LIMITS.triggerMessage.headers + 1 }, (_, i) => [`H${i}`, ""])) })]) {
    assert.equal(parseTriggerMessage(bad), undefined, String(bad).slice(0, 60));
  }
});
