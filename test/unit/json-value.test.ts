// JSON ⇄ google.protobuf.Value: every JSON value survives the round trip, through the real wire encoding too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromProtoValue, toProtoValue, MAX_JSON_DEPTH } from "../../gateway/json-value.js";
import { loadWeftProto } from "../../gateway/proto.js";
import { WeftError } from "../../shared/errors.js";

const samples: unknown[] = [
  null,
  true,
  false,
  0,
  -1.5,
  1e300,
  "",
  "héllo ✓ 🚀",
  [],
  {},
  [1, "two", null, false, [[]], { a: {} }],
  { nested: { list: [1, 2, { deep: "yes" }], empty: {}, n: null }, "with space": 1, "": "empty key" },
];

test("every JSON value survives toProtoValue → fromProtoValue", () => {
  for (const value of samples) assert.deepEqual(fromProtoValue(toProtoValue(value, "x"), "x"), value);
});

test("values survive the protobuf wire encoding as proto-loader does it", () => {
  const invoke = (loadWeftProto()["weft.v1.InvocationService"] as any).Invoke;
  for (const value of samples) {
    const decoded = invoke.requestDeserialize(invoke.requestSerialize({ name: "f", event: toProtoValue(value, "event") }));
    assert.deepEqual(fromProtoValue(decoded.event, "event"), value, JSON.stringify(value));
  }
});

test("JSON semantics: undefined members are dropped, non-finite numbers become null", () => {
  assert.deepEqual(fromProtoValue(toProtoValue({ a: undefined, b: 1 }, "x"), "x"), { b: 1 });
  assert.deepEqual(fromProtoValue(toProtoValue([undefined, Number.NaN, Infinity], "x"), "x"), [null, null, null]);
});

test("a key named __proto__ stays a plain key, never a prototype", () => {
  const value = JSON.parse('{"__proto__": {"polluted": true}, "b": 1}');
  const back = fromProtoValue(toProtoValue(value, "x"), "x") as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepEqual(Object.keys(back), ["__proto__", "b"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("an unset Value is null, as in protobuf's JSON mapping", () => {
  assert.equal(fromProtoValue(undefined, "x"), null);
  assert.equal(fromProtoValue({}, "x"), null);
  assert.deepEqual(fromProtoValue({ structValue: {} }, "x"), {});
  assert.deepEqual(fromProtoValue({ listValue: {} }, "x"), []);
});

test("a non-finite number from a client is refused naming the field", () => {
  assert.throws(
    () => fromProtoValue({ structValue: { fields: { n: { numberValue: Number.POSITIVE_INFINITY } } } }, "event"),
    (e: unknown) => e instanceof WeftError && e.code === "INVALID_ARGUMENT" && e.field === "event",
  );
});

test("nesting deeper than the limit is refused, not a stack overflow", () => {
  let deep: unknown = 1;
  for (let i = 0; i < MAX_JSON_DEPTH + 5; i++) deep = [deep];
  assert.throws(() => toProtoValue(deep, "output"), (e: unknown) => e instanceof WeftError && e.field === "output");
  let proto: any = { numberValue: 1 };
  for (let i = 0; i < MAX_JSON_DEPTH + 5; i++) proto = { listValue: { values: [proto] } };
  assert.throws(() => fromProtoValue(proto, "event"), (e: unknown) => e instanceof WeftError && e.field === "event");
});

test("exactly the limit survives the wire both ways; one more level is refused, for empty containers too", () => {
  const invoke = (loadWeftProto()["weft.v1.InvocationService"] as any).Invoke;
  for (const make of [(v: unknown) => [v], (v: unknown) => ({ k: v })]) {
    let atLimit: unknown = [];
    for (let i = 1; i < MAX_JSON_DEPTH; i++) atLimit = make(atLimit);
    const decoded = invoke.requestDeserialize(invoke.requestSerialize({ name: "f", event: toProtoValue(atLimit, "event") }));
    assert.deepEqual(fromProtoValue(decoded.event, "event"), atLimit);
    const over = make(atLimit);
    assert.throws(() => toProtoValue(over, "output"), (e: unknown) => e instanceof WeftError && e.field === "output");
  }
});
