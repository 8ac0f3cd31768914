// The retry decision for async invocations (agents/async-policy.ts): pure logic, no fabric.
import { test } from "node:test";
import assert from "node:assert/strict";
import { afterAttempt, isExpired, retryDelayMs } from "../../agents/async-policy.js";
import { AsyncConfig, DEFAULT_ASYNC, FunctionSpec } from "../../shared/schemas/function.js";

const failed = { status: "error" as const, error: { code: "HANDLER_ERROR" as const, message: "x" } };

test("backoff: 1 s then 2 s, each with up to 50 % jitter", () => {
  assert.equal(retryDelayMs(1, 0), 1000);
  assert.equal(retryDelayMs(1, 0.999), 1500);
  assert.equal(retryDelayMs(2, 0), 2000);
  assert.equal(retryDelayMs(2, 0.5), 2500);
});

test("handler error, timeout and kill are retried up to maxRetries, then dead-lettered", () => {
  for (const f of [failed, { status: "timeout" as const, error: { code: "TIMEOUT" as const, message: "" } }, { status: "killed" as const, error: { code: "OUT_OF_MEMORY" as const, message: "" } }]) {
    assert.deepEqual(afterAttempt(f, 0, DEFAULT_ASYNC, 0, 0), { kind: "retry", dueAt: 1000 });
    assert.deepEqual(afterAttempt(f, 1, DEFAULT_ASYNC, 0, 0), { kind: "retry", dueAt: 2000 });
    assert.deepEqual(afterAttempt(f, 2, DEFAULT_ASYNC, 0, 0), { kind: "dead", reason: "failed" });
  }
  assert.deepEqual(afterAttempt(failed, 0, { ...DEFAULT_ASYNC, maxRetries: 0 }, 0), { kind: "dead", reason: "failed" });
});

test("success, a deleted function and a non-JSON event are not dead-lettered; platform give-ups and expiry are, without retry", () => {
  assert.deepEqual(afterAttempt({ status: "ok" }, 0, DEFAULT_ASYNC, 0), { kind: "done" });
  assert.deepEqual(afterAttempt({ status: "error", error: { code: "FUNCTION_DELETED", message: "" } }, 0, DEFAULT_ASYNC, 0), { kind: "done" });
  assert.deepEqual(afterAttempt({ status: "error", error: { code: "INVALID_EVENT", message: "" } }, 0, DEFAULT_ASYNC, 0), { kind: "done" });
  assert.deepEqual(afterAttempt({ status: "killed", error: { code: "PLATFORM_ERROR", message: "" } }, 0, DEFAULT_ASYNC, 0), { kind: "dead", reason: "failed" });
  assert.deepEqual(afterAttempt({ status: "killed", error: { code: "EVENT_EXPIRED", message: "" } }, 0, DEFAULT_ASYNC, 0), { kind: "dead", reason: "expired" });
});

test("expiry is strictly older than maxEventAgeMs", () => {
  assert.equal(isExpired(0, { ...DEFAULT_ASYNC, maxEventAgeMs: 1000 }, 1000), false);
  assert.equal(isExpired(0, { ...DEFAULT_ASYNC, maxEventAgeMs: 1000 }, 1001), true);
});

test("the schema: defaults, ranges, destinations", () => {
  assert.deepEqual(AsyncConfig.parse({}), DEFAULT_ASYNC);
  assert.equal(FunctionSpec.parse({ runtime: "python3", code: "x" }).async, undefined);
  for (const bad of [{ maxRetries: -1 }, { maxRetries: 3 }, { maxEventAgeMs: 999 }, { maxEventAgeMs: 21_600_001 }, { onSuccess: {} },
    { onSuccess: { subject: "a.*" } }, { onSuccess: { subject: "weft.jobs.x" } }, { onSuccess: { subject: "_INBOX.x" } }, { onSuccess: { subject: "$JS.API.x" } },
    { onFailure: { function: "X" } }, { onFailure: { subject: "a", function: "b" } }]) {
    assert.equal(AsyncConfig.safeParse(bad).success, false, JSON.stringify(bad));
  }
  assert.equal(AsyncConfig.safeParse({ onSuccess: { subject: "orders.done" }, onFailure: { function: "fix-it" } }).success, true);
  assert.equal(AsyncConfig.safeParse({ onSuccess: { subject: "weftish.done" } }).success, true);
});
