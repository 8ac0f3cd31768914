// JSON ⇄ google.protobuf.Value, as @grpc/proto-loader represents Value (one of its kind fields set), so gRPC
// events and outputs are plain JSON to clients such as grpcurl.
import { invalid } from "../shared/errors.js";

export interface ProtoValue {
  nullValue?: "NULL_VALUE" | 0;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: { fields?: Record<string, ProtoValue> };
  listValue?: { values?: ProtoValue[] };
}

/** Deeper nesting is refused rather than risking the stack (protobuf parsers stop at 100 levels anyway). */
export const MAX_JSON_DEPTH = 512;

/** A JSON value (as JSON.parse returns it) as a protobuf Value; `field` names the value in errors. */
export function toProtoValue(value: unknown, field: string, depth = 0): ProtoValue {
  if (depth > MAX_JSON_DEPTH) throw invalid(field, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  switch (typeof value) {
    case "string":
      return { stringValue: value };
    case "number":
      return Number.isFinite(value) ? { numberValue: value } : { nullValue: "NULL_VALUE" };
    case "boolean":
      return { boolValue: value };
    case "object":
      if (value === null) return { nullValue: "NULL_VALUE" };
      if (Array.isArray(value)) return { listValue: { values: value.map((v) => toProtoValue(v ?? null, field, depth + 1)) } };
      return { structValue: { fields: structFields(value as Record<string, unknown>, field, depth) } };
    default:
      // undefined, functions, symbols, bigints: JSON.stringify drops or nulls them; so do we.
      return { nullValue: "NULL_VALUE" };
  }
}

function structFields(obj: Record<string, unknown>, field: string, depth: number): Record<string, ProtoValue> {
  const fields: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined) setOwn(fields, k, toProtoValue(v, field, depth + 1));
  }
  return fields;
}

/** Plain assignment of "__proto__" would set the prototype instead of adding the key JSON has. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** A protobuf Value as JSON; an unset Value (no kind) is null, as in protobuf's JSON mapping. */
export function fromProtoValue(value: ProtoValue | null | undefined, field: string, depth = 0): unknown {
  if (depth > MAX_JSON_DEPTH) throw invalid(field, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (!value) return null;
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue;
  if (value.numberValue !== undefined && value.numberValue !== null) return finiteNumber(value.numberValue, field);
  if (value.boolValue !== undefined && value.boolValue !== null) return value.boolValue;
  if (value.structValue) return fromStruct(value.structValue.fields ?? {}, field, depth);
  if (value.listValue) return (value.listValue.values ?? []).map((v) => fromProtoValue(v, field, depth + 1));
  return null;
}

function fromStruct(fields: Record<string, ProtoValue>, field: string, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) setOwn(out, k, fromProtoValue(v, field, depth + 1));
  return out;
}

function finiteNumber(n: number, field: string): number {
  // NaN and ±Infinity have no JSON form; refusing them beats silently turning them into null.
  if (!Number.isFinite(n)) throw invalid(field, "numbers must be finite (NaN and Infinity are not JSON)");
  return n;
}
