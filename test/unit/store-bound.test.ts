// The controller's bound on what it holds in FerretDB (controller/database.ts, controller/invocation-pages.ts): FerretDB
// 1.24 holds a pooled SQLite connection per statement of an update command until the command ends, plus one for its
// transaction, and its pool has 100; once updates hold them all while waiting for one more, it never answers again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MONGO_MAX_POOL } from "../../controller/database.js";
import { REPLACES_PER_COMMAND } from "../../controller/invocation-pages.js";

const FERRETDB_SQLITE_POOL = 100;

test("two controllers together hold fewer SQLite connections than FerretDB's pool", () => {
  // One page bulk at a time (a connection per statement and one for its transaction); every other command in
  // flight is a single update (one statement, one transaction).
  const heldByOne = REPLACES_PER_COMMAND + 1 + (MONGO_MAX_POOL - 1) * 2;
  assert.ok(2 * heldByOne < FERRETDB_SQLITE_POOL, `two controllers hold ${2 * heldByOne}`);
});

test("a page bulk stays under the size FerretDB 1.24 never answers (100 statements)", () => {
  assert.ok(REPLACES_PER_COMMAND < 100);
});
