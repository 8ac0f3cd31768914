// The wire-level depth of a google.protobuf.Value inside an InvokeRequest: the same number jsonDepth gives for the
// JSON the Value stands for, measured without decoding (so without protobufjs's recursion).
import { test } from "node:test";
import assert from "node:assert/strict";
import { protoValueDepth } from "../../gateway/proto-value-depth.js";
import { toProtoValue } from "../../gateway/json-value.js";
import { loadWeftProto } from "../../gateway/proto.js";
import { scanJson } from "../../shared/json-scan.js";
import { deepValue, invokeRequest } from "../fixtures/proto-wire.js";

const invoke = (loadWeftProto()["weft.v1.InvocationService"] as any).Invoke;
const EVENT_FIELD = 2;
const encode = (event: unknown) => invoke.requestSerialize({ name: "f", event: toProtoValue(event, "event"), version: 3 }) as Buffer;

function nested(depth: number, kind: "array" | "object"): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { a: v };
  return v;
}

const jsonDepth = (v: unknown) => {
  const scan = scanJson(Buffer.from(JSON.stringify(v)), 1000);
  assert.ok(scan.ok);
  return scan.depth;
};

test("agrees with the JSON scanner on values encoded by proto-loader", () => {
  const samples: unknown[] = [
    null, 1, "[[[", true, [], {}, [[]], { a: [1, { b: [] }] }, [[], [[[]]], {}],
    { "k[": "{{", list: [1, "x", null, [true]] }, nested(10, "array"), nested(10, "object"),
  ];
  for (const v of samples) assert.equal(protoValueDepth(encode(v), EVENT_FIELD, 1000), jsonDepth(v), JSON.stringify(v));
});

test("the limit is exact: 1000 levels measure 1000 and decode; 1001 measure past the limit", () => {
  for (const kind of ["array", "object"] as const) {
    const at = encode(nested(1000, kind));
    assert.equal(protoValueDepth(at, EVENT_FIELD, 1000), 1000, kind);
    assert.ok(invoke.requestDeserialize(at).event, `${kind}: protobufjs decodes 1000 levels`);
    assert.equal(protoValueDepth(invokeRequest("f", deepValue(1001, kind)), EVENT_FIELD, 1000), 1001, kind);
  }
});

test("the hand-built fixture encodes what proto-loader encodes", () => {
  for (const kind of ["array", "object"] as const) {
    assert.deepEqual(invokeRequest("f", deepValue(5, kind)), invoke.requestSerialize({ name: "f", event: toProtoValue(nested(5, kind), "event") }));
  }
});

test("a million levels are measured to the first level past the limit, without recursion", () => {
  for (const kind of ["array", "object"] as const) {
    const bytes = invokeRequest("f", deepValue(1_000_000, kind));
    assert.equal(protoValueDepth(bytes, EVENT_FIELD, 1000), 1001, kind);
    assert.equal(protoValueDepth(bytes, EVENT_FIELD, 500_000), 500_001, `${kind}: deep stack, still no recursion`);
  }
});

test("other fields, unknown fields and groups are skipped; only the named field counts", () => {
  const event = deepValue(7, "array");
  const unknown = Buffer.from([
    0x78, 0x96, 0x01, // field 15 varint
    0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, // field 16 fixed64
    0x8d, 0x01, 1, 2, 3, 4, // field 17 fixed32
    0x93, 0x01, 0x93, 0x01, 0x08, 0x01, 0x94, 0x01, 0x94, 0x01, // field 18: a group holding a group
    0x9a, 0x01, 0x02, 0x5b, 0x5b, // field 19 bytes "[["
  ]);
  const bytes = Buffer.concat([unknown, invokeRequest("f", event), unknown]);
  assert.equal(protoValueDepth(bytes, EVENT_FIELD, 1000), 7);
  assert.equal(protoValueDepth(bytes, 4, 1000), 0, "a field that is not there is 0 deep");
  // A Value deep inside some other length-delimited field is not the event.
  assert.equal(protoValueDepth(Buffer.concat([Buffer.from([0x22, event.length & 0x7f | 0x80, event.length >> 7]), event]), EVENT_FIELD, 1000), 0);
});

test("malformed bytes end the walk with a number, never a throw or a hang", () => {
  const good = invokeRequest("f", deepValue(50, "object"));
  for (let cut = 0; cut < good.length; cut += 7) {
    assert.equal(typeof protoValueDepth(good.subarray(0, cut), EVENT_FIELD, 1000), "number");
  }
  const inputs = [
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // a varint that never ends
    Buffer.from([0x12, 0x7f, 0x32]), // a length past the end
    Buffer.from([0x0c]), // a stray end-group
    Buffer.from([0x0b, 0x0b, 0x0b]), // groups never closed
    Buffer.from([0x0e, 0x0f]), // wire types 6 and 7 do not exist
  ];
  for (const bytes of inputs) assert.equal(typeof protoValueDepth(bytes, EVENT_FIELD, 1000), "number", bytes.toString("hex"));
  const noise = Buffer.alloc(1 << 20);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 256;
  assert.equal(typeof protoValueDepth(noise, EVENT_FIELD, 1000), "number");
});
