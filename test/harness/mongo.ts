// The MongoDB wire-protocol server tests use: MONGO_URL when set, else the one deploy/services.sh started.
import { randomBytes } from "node:crypto";

export function mongoUrl(): string {
  return process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017";
}

/** A database name no other test (or earlier run) uses. */
export function uniqueDbName(prefix: string): string {
  return `weft_test_${prefix}_${randomBytes(4).toString("hex")}`.replace(/[^a-zA-Z0-9_]/g, "_");
}
