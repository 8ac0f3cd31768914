// JSON ⇄ google.protobuf.Value, as @grpc/proto-loader represents Value (one of its kind fields set), so gRPC
// events and outputs are plain JSON to clients such as grpcurl.
import { invalid } from "../shared/errors.js";
import { LIMITS } from "../shared/limits.js";

export interface ProtoValue {
  nullValue?: "NULL_VALUE" | 0;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: { fields?: Record<string, ProtoValue> };
  listValue?: { values?: ProtoValue[] };
}

/**
 * Arrays and objects nested deeper than this are refused rather than risking the stack: the documented limit on
 * events (a deeper event never gets this far: the gateway refuses it from its bytes first).
 */
export const MAX_JSON_DEPTH = LIMITS.jsonDepth;

/** `depth` is how many arrays and objects enclose the value; opening one more must stay within the limit. */
function enter(depth: number, field: string): number {
  if (depth >= MAX_JSON_DEPTH) throw invalid(field, `nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects (the limit)`);
  return depth + 1;
}

/** A JSON value (as JSON.parse returns it) as a protobuf Value; `field` names the value in errors. */
export function toProtoValue(value: unknown, field: string, depth = 0): ProtoValue {
  switch (typeof value) {
    case "string":
      return { stringValue: value };
    case "number":
      return Number.isFinite(value) ? { numberValue: value } : { nullValue: "NULL_VALUE" };
    case "boolean":
      return { boolValue: value };
    case "object":
      if (value === null) return { nullValue: "NULL_VALUE" };
      if (Array.isArray(value)) {
        const inner = enter(depth, field);
        return { listValue: { values: value.map((v) => toProtoValue(v ?? null, field, inner)) } };
      }
      return { structValue: { fields: structFields(value as Record<string, unknown>, field, enter(depth, field)) } };
    default:
      // undefined, functions, symbols, bigints: JSON.stringify drops or nulls them; so do we.
      return { nullValue: "NULL_VALUE" };
  }
}

function structFields(obj: Record<string, unknown>, field: string, inner: number): Record<string, ProtoValue> {
  const fields: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined) setOwn(fields, k, toProtoValue(v, field, inner));
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
  if (!value) return null;
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue;
  if (value.numberValue !== undefined && value.numberValue !== null) return finiteNumber(value.numberValue, field);
  if (value.boolValue !== undefined && value.boolValue !== null) return value.boolValue;
  if (value.structValue) return fromStruct(value.structValue.fields ?? {}, field, enter(depth, field));
  if (value.listValue) {
    const inner = enter(depth, field);
    return (value.listValue.values ?? []).map((v) => fromProtoValue(v, field, inner));
  }
  return null;
}

function fromStruct(fields: Record<string, ProtoValue>, field: string, inner: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) setOwn(out, k, fromProtoValue(v, field, inner));
  return out;
}

function finiteNumber(n: number, field: string): number {
  // NaN and ±Infinity have no JSON form; refusing them beats silently turning them into null.
  if (!Number.isFinite(n)) throw invalid(field, "numbers must be finite (NaN and Infinity are not JSON)");
  return n;
}
