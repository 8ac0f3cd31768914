// The controller's MongoDB client, and how MongoDB failures become Weft errors.
import { MongoBulkWriteError, MongoClient, MongoError, MongoServerError, type Collection, type Db, type Document } from "mongodb";
import { WeftError, unavailable } from "../shared/errors.js";

export interface Database {
  client: MongoClient;
  db: Db;
}

/**
 * Commands one controller has in flight at most. FerretDB 1.24 on SQLite holds a pooled SQLite connection for
 * each statement of an update command until the command ends, and takes one more for its transaction; its pool has
 * 100, and when they are all held by updates waiting for one more, it never answers again (the bench's 100
 * functions did that: a page bulk of 50 beside dozens of single updates). With 12 commands, one of them a page bulk
 * (REPLACES_PER_COMMAND, one at a time), a controller holds at most 21 + 11 x 2 = 43: two controllers fit.
 */
export const MONGO_MAX_POOL = 12;

/**
 * Creates the client without connecting: the driver connects on first use and again after an outage,
 * so the controller starts (and keeps serving NATS) while MongoDB is away.
 */
export function openDatabase(url: string, dbName: string, timeoutMs: number): Database {
  const client = new MongoClient(url, {
    maxPoolSize: MONGO_MAX_POOL,
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    socketTimeoutMS: Math.max(30_000, timeoutMs),
    appName: "weft-controller",
  });
  return { client, db: client.db(dbName) };
}

/** MongoDB's duplicate-key error code (also FerretDB's). */
export const DUPLICATE_KEY = 11000;

export const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;

/** MongoDB's codes for "no such index" and "no such collection" (FerretDB answers the same). */
const INDEX_NOT_FOUND = 27;
const NAMESPACE_NOT_FOUND = 26;

/** Drops an index a former version of Weft created; a database that never had it (or the collection) is fine. */
export async function dropIndexIfPresent<D extends Document>(collection: Collection<D>, name: string): Promise<void> {
  try {
    await collection.dropIndex(name);
  } catch (err) {
    if (!(err instanceof MongoServerError && (err.code === INDEX_NOT_FOUND || err.code === NAMESPACE_NOT_FOUND))) throw err;
  }
}

/** True when the failure is MongoDB being unreachable (worth retrying), not a refused operation. */
export function isMongoUnavailable(err: unknown): boolean {
  if (err instanceof MongoBulkWriteError) return isWrappedDriverError(err);
  return err instanceof MongoError && !(err instanceof MongoServerError);
}

/**
 * A bulk write (insertMany, bulkWrite) that could not reach the server throws a MongoBulkWriteError — a
 * MongoServerError subclass — around the network error, with no write errors and no write-concern error.
 * Anything the server itself refused carries one of those.
 */
function isWrappedDriverError(err: MongoBulkWriteError): boolean {
  return [err.writeErrors].flat().length === 0 && err.err === undefined;
}

/** Maps a MongoDB failure to the error a caller sees; anything else passes through unchanged. */
export function fromMongoError(err: unknown): unknown {
  if (err instanceof WeftError || !(err instanceof MongoError)) return err;
  if (isMongoUnavailable(err)) return unavailable("MongoDB", err);
  if (isDuplicateKey(err)) {
    return new WeftError("CONFLICT", "the function changed concurrently; retry", undefined, { cause: err });
  }
  return new WeftError("INTERNAL", `MongoDB refused the operation: ${err.message}`, undefined, { cause: err });
}

/** Answers whether MongoDB responds within the client's server-selection timeout. */
export async function pingMongo(db: Db): Promise<boolean> {
  try {
    await db.command({ ping: 1 });
    return true;
  } catch (err) {
    if (err instanceof MongoError) return false;
    throw err;
  }
}
