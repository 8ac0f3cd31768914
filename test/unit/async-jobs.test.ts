// The stored documents of the async machinery (shared/async-jobs.ts): the event is spliced in as raw JSON and read
// back through the schema; anything else is refused without a throw.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DeadLetter, ScheduledJob, parseStored, summaryError, withEvent } from "../../shared/async-jobs.js";

const letter = { invocationId: "abc-1", functionName: "orders", reason: "failed", status: "error", attempts: [], enqueuedAt: 1, deadAt: 2, chainDepth: 0 };

test("the event's bytes are spliced in as they are, and read back", () => {
  const text = withEvent(letter, Buffer.from('{"n": 1.50, "s": "é"}'));
  assert.ok(text.endsWith(',"event":{"n": 1.50, "s": "é"}}'), text);
  assert.deepEqual(parseStored(DeadLetter, Buffer.from(text))?.event, { n: 1.5, s: "é" });
  assert.equal(parseStored(DeadLetter, Buffer.from(withEvent(letter, new Uint8Array())))?.event, null);
});

test("a document of another shape, or not JSON, is undefined", () => {
  assert.equal(parseStored(DeadLetter, Buffer.from("{nope")), undefined);
  assert.equal(parseStored(DeadLetter, Buffer.from(withEvent({ ...letter, invocationId: "a.b" }, Buffer.from("{}")))), undefined, "an id that is not a subject token");
  assert.equal(parseStored(ScheduledJob, Buffer.from(withEvent(letter, Buffer.from("{}")))), undefined);
});

test("a dead letter's error is a summary: code, type and the message's first 1 KiB", () => {
  const e = summaryError({ code: "HANDLER_ERROR", message: "x".repeat(5000), type: "ValueError", stack: "long" });
  assert.deepEqual(e, { code: "HANDLER_ERROR", message: "x".repeat(1024), type: "ValueError" });
});
