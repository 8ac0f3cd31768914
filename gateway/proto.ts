// Loads the weft.v1 contract from proto/weft/v1/weft.proto for the gRPC server (and for clients in tests).
import { fileURLToPath } from "node:url";
import { loadSync, type Options, type PackageDefinition } from "@grpc/proto-loader";
import protobuf from "protobufjs";
import { LIMITS } from "../shared/limits.js";

export const PROTO_FILE = fileURLToPath(new URL("../proto/weft/v1/weft.proto", import.meta.url));
export const PROTO_PACKAGE = "weft.v1";

/**
 * lowerCamelCase fields (as in the HTTP API), int64 as JS numbers, enums as names; unset fields stay
 * undefined so the gateway can tell "not sent" from "zero", except lists and maps, which come as empty.
 */
export const PROTO_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: true,
  objects: true,
  oneofs: false,
};

/**
 * Messages protobufjs will nest when it encodes or decodes. Its default is protoc's 100, but a JSON value carried as
 * google.protobuf.Value takes up to three messages per level (Value, Struct, FieldsEntry), and Weft's events and
 * outputs may nest LIMITS.jsonDepth levels. The gateway measures an event's depth on the wire before decoding it
 * (proto-value-depth.ts), so a decode never goes deeper than this.
 */
export const PROTO_RECURSION_LIMIT = 3 * LIMITS.jsonDepth + 10;

export function loadWeftProto(): PackageDefinition {
  // protobufjs keeps its limits process-wide; raising them (never lowering) is what every user of it here needs.
  protobuf.util.recursionLimit = Math.max(protobuf.util.recursionLimit, PROTO_RECURSION_LIMIT);
  protobuf.Reader.recursionLimit = Math.max(protobuf.Reader.recursionLimit, PROTO_RECURSION_LIMIT);
  return loadSync(PROTO_FILE, PROTO_OPTIONS);
}
