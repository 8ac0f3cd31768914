// How a record document is stored (controller/invocation-records.ts): the fields one filters on stay fields, the rest
// travel as one JSON text, and reading gives back every field with its type, for documents stored either way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { documentsFor, readDoc, storedDoc, type InvocationDoc, type PhaseDoc } from "../../controller/invocation-records.js";
import type { RecordEvent } from "../../shared/schemas/invocation.js";

const t0 = Date.UTC(2026, 11, 5, 4, 0, 0);
const base = { invocationId: "inv-1", functionName: "fn", incarnation: "abcdef0123456789", enqueuedAt: t0, version: 3, traceId: "t".repeat(32) };
const final: RecordEvent = {
  ...base,
  phase: "final",
  event: '{"$x":1,"a.b":2}',
  agent: "agent-1",
  startedAt: t0 + 5,
  coldStart: false,
  attempt: 2,
  status: "error",
  output: '{"ok":false}',
  error: { code: "HANDLER_ERROR", message: "boom", type: "ValueError" },
  durationMs: 12.5,
  logs: "hello\n",
  finishedAt: t0 + 20,
  attempts: [{ attempt: 1, retry: 0, delivery: 1, agent: "agent-0", startedAt: t0 + 1, finishedAt: t0 + 2, status: "error", errorCode: "HANDLER_ERROR" }],
};

test("a final record keeps _id, functionName, enqueuedAt and status as fields; the rest is one JSON text", () => {
  const doc = documentsFor([final]).finals[0]!.doc;
  const stored = storedDoc(doc);
  assert.deepEqual(Object.keys(stored).sort(), ["_id", "enqueuedAt", "fieldsJson", "functionName", "status"]);
  assert.equal(stored.status, "error");
  assert.ok(stored.enqueuedAt instanceof Date);
  assert.equal(typeof stored.fieldsJson, "string");
});

test("reading a stored final gives back every field, dates as dates", () => {
  const doc = documentsFor([final]).finals[0]!.doc;
  const back = readDoc(storedDoc(doc)) as InvocationDoc;
  assert.deepEqual(back, doc);
  assert.ok(back.startedAt instanceof Date && back.finishedAt instanceof Date);
  assert.equal(back.startedAt.getTime(), t0 + 5);
});

test("a phase document keeps invocationId and phase as fields", () => {
  const queued: RecordEvent = { ...base, phase: "queued", async: true, event: '{"n":1}' };
  const doc = documentsFor([queued]).phases[0]!.doc;
  const stored = storedDoc(doc);
  assert.deepEqual(Object.keys(stored).sort(), ["_id", "enqueuedAt", "fieldsJson", "functionName", "invocationId", "phase"]);
  assert.deepEqual(readDoc(stored) as PhaseDoc, doc);
});

test("a document stored before, every field its own, is read as it is", () => {
  const doc = documentsFor([final]).finals[0]!.doc;
  assert.deepEqual(readDoc({ ...doc }), doc);
});

test("a damaged fieldsJson gives the record its own fields, never an exception", () => {
  const top = { _id: "inv-2", functionName: "fn", enqueuedAt: new Date(t0), status: "ok" as const };
  for (const fieldsJson of ["{not json", "null", "[1,2]", "42"]) assert.deepEqual(readDoc({ ...top, fieldsJson }), top, fieldsJson);
  const back = readDoc({ ...top, fieldsJson: JSON.stringify({ agent: "a", startedAt: "yesterday", finishedAt: 7 }) }) as InvocationDoc;
  assert.deepEqual(back, { ...top, agent: "a" }, "dates that do not parse are left out");
});
