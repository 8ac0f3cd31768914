// A refusal past a bound (429) is built without a stack: it is an outcome answered thousands of times a second
// under overload, and capturing a stack was 6 % of an overloaded gateway's CPU. It must still be the same error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { Overloaded, overloaded } from "../../gateway/invoker.js";
import { WeftError, withoutStack } from "../../shared/errors.js";

const frames = (err: Error) => (err.stack ?? "").split("\n").filter((l) => l.trimStart().startsWith("at ")).length;

test("a refusal is the Overloaded error clients see: 429, RESOURCE_EXHAUSTED, Retry-After 1 s, the bound in its message", () => {
  const err = overloaded(64);
  assert.ok(err instanceof Overloaded);
  assert.ok(err instanceof WeftError);
  assert.equal(err.code, "RESOURCE_EXHAUSTED");
  assert.equal(err.httpStatus, 429);
  assert.equal(err.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(err.retryAfterS, 1);
  assert.deepEqual(err.toBody(), { code: "RESOURCE_EXHAUSTED", message: "too many invocations in flight on this gateway (64); retry in 1 s" });
});

test("a refusal carries no stack frames, where the same error made as usual does", () => {
  assert.ok(frames(new Overloaded(8)) > 0, "an ordinary construction captures frames");
  assert.equal(frames(overloaded(8)), 0);
});

test("withoutStack puts the stack trace limit back, also when making the error throws", () => {
  const before = Error.stackTraceLimit;
  withoutStack(() => new Error("x"));
  assert.equal(Error.stackTraceLimit, before);
  assert.throws(() => withoutStack(() => { throw new RangeError("boom"); }), RangeError);
  assert.equal(Error.stackTraceLimit, before);
  assert.ok(frames(new Error("after")) > 0, "errors made afterwards have their stacks again");
});
