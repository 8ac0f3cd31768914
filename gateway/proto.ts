// Loads the weft.v1 contract from proto/weft/v1/weft.proto for the gRPC server (and for clients in tests).
import { fileURLToPath } from "node:url";
import { loadSync, type Options, type PackageDefinition } from "@grpc/proto-loader";

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

export function loadWeftProto(): PackageDefinition {
  return loadSync(PROTO_FILE, PROTO_OPTIONS);
}
