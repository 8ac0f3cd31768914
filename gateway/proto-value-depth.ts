// How deeply the google.protobuf.Value in one field of a protobuf message nests, read from the message's wire bytes
// in one pass, without recursion and without decoding. protobufjs decodes recursively, message by message, so the
// gRPC front door measures an event's depth on the wire and refuses a deep one before anything decodes it.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

/** The messages met on the way down, and the field of each that leads to the next (google/protobuf/struct.proto). */
const OUTER = 0;
const VALUE = 1; // Value: struct_value = 5, list_value = 6
const STRUCT = 2; // Struct: map<string, Value> fields = 1, i.e. repeated FieldsEntry
const ENTRY = 3; // FieldsEntry: key = 1, value = 2
const LIST = 4; // ListValue: repeated Value values = 1
const NONE = -1;

function inner(kind: number, field: number, valueField: number): number {
  switch (kind) {
    case OUTER: return field === valueField ? VALUE : NONE;
    case VALUE: return field === 5 ? STRUCT : field === 6 ? LIST : NONE;
    case STRUCT: return field === 1 ? ENTRY : NONE;
    case ENTRY: return field === 2 ? VALUE : NONE;
    case LIST: return field === 1 ? VALUE : NONE;
    default: return NONE;
  }
}

/** A cursor over the bytes; `ok` turns false at the first malformed element, which ends the walk. */
class Wire {
  pos = 0;
  ok = true;
  constructor(readonly bytes: Uint8Array) {}

  varint(): number {
    const bytes = this.bytes;
    if (this.pos < bytes.length && bytes[this.pos]! < 0x80) return bytes[this.pos++]!; // most tags and lengths
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10 && this.pos < bytes.length; i++) {
      const b = bytes[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
    this.ok = false;
    return 0;
  }

  skip(n: number, end: number): void {
    if (this.pos + n > end) this.ok = false;
    else this.pos += n;
  }

  /** Skips the rest of a group whose start tag was just read; groups inside it are counted, not recursed into. */
  skipGroup(end: number): void {
    let open = 1;
    while (this.ok && open > 0) {
      if (this.pos >= end) {
        this.ok = false;
        return;
      }
      const wire = this.varint() % 8;
      if (wire === WIRE_START_GROUP) open++;
      else if (wire === WIRE_END_GROUP) open--;
      else this.skipScalar(wire, end);
    }
  }

  skipScalar(wire: number, end: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_FIXED64) this.skip(8, end);
    else if (wire === WIRE_FIXED32) this.skip(4, end);
    else if (wire === WIRE_LEN) this.skip(this.varint(), end);
    else this.ok = false;
  }
}

/**
 * The deepest nesting of arrays (ListValue) and objects (Struct) in the Value held by field `valueField` of the
 * message in `bytes`, counted as shared/json-scan.ts counts JSON text (a scalar is 0, `[]` is 1). Stops as soon as the depth
 * passes `stopAbove` and returns it. Other fields are skipped, groups included. Malformed bytes end the walk with
 * the depth seen so far: whether the message decodes is for the decoder to say.
 */
export function protoValueDepth(bytes: Uint8Array, valueField: number, stopAbove: number): number {
  // Each level of nesting holds at most three messages (Value, Struct, FieldsEntry), and the walk stops one level
  // past the limit: the stack never grows further.
  const capacity = 3 * (stopAbove + 1) + 3;
  const ends = new Float64Array(capacity);
  const kinds = new Int8Array(capacity);
  const wire = new Wire(bytes);
  let top = 0;
  ends[0] = bytes.length;
  kinds[0] = OUTER;
  let depth = 0;
  let max = 0;
  while (wire.ok) {
    while (wire.pos >= ends[top]!) {
      if (top === 0) return max;
      if (kinds[top] === STRUCT || kinds[top] === LIST) depth--;
      top--;
    }
    const end = ends[top]!;
    const tag = wire.varint();
    const type = tag % 8;
    if (type === WIRE_START_GROUP) wire.skipGroup(end);
    else if (type !== WIRE_LEN) wire.skipScalar(type, end);
    else {
      const length = wire.varint();
      const next = inner(kinds[top]!, Math.floor(tag / 8), valueField);
      if (next === NONE || !wire.ok) {
        wire.skip(length, end);
        continue;
      }
      if (wire.pos + length > end) return max;
      if (next === STRUCT || next === LIST) {
        if (++depth > max) max = depth;
        if (max > stopAbove) return max;
      }
      top++;
      ends[top] = wire.pos + length;
      kinds[top] = next;
    }
  }
  return max;
}
