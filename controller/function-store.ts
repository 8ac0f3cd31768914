// Functions and their immutable versions in MongoDB, the source of truth.
//
// `functions`: one document per name: { _id: name, versionSeq, latestVersion?, deleted, createdAt, updatedAt, deletedAt? }.
// `function_versions`: one document per version: { _id: "<name>.v<n>", name, version, ...FunctionDefinition, codeBytes }.
//
// A PUT (1) reserves the next number with $inc on versionSeq, (2) inserts the version, (3) commits it with
// $max on latestVersion. No transactions are needed (FerretDB has none): a crash between steps leaves an
// unreferenced version number, never a function pointing at a missing version. Version numbers are never
// reused, even after DELETE: a function created again under a deleted name continues from the old numbers,
// so a version key in the NATS bucket always means the same code.
//
// FerretDB 1.24 (SQLite) applies update operators as read-modify-write without locking: concurrent $inc or
// $max on one document lose updates (measured: 8 concurrent $inc hand out duplicates). So (a) the version
// document's unique _id is the arbiter: an insert that collides reserves again, and no two PUTs can ever store
// different code under one version; (b) writes to one function are serialised inside the controller. With a
// single controller this is exact on FerretDB; on MongoDB the operators are atomic and any number is safe.
import { createHash } from "node:crypto";
import type { Collection, Db } from "mongodb";
import { isDuplicateKey } from "./database.js";
import { notFound } from "../shared/errors.js";
import type { FunctionDefinition, FunctionSpec, FunctionSummary } from "../shared/schemas/function.js";
import { versionKey } from "../shared/subjects.js";

interface FunctionDoc {
  _id: string;
  versionSeq: number;
  latestVersion?: number;
  deleted: boolean;
  createdAt: Date;
  updatedAt?: Date;
  deletedAt?: Date;
}

type VersionDoc = Omit<FunctionDefinition, "createdAt"> & { _id: string; codeBytes: number; createdAt: Date };

export interface PutOutcome {
  definition: FunctionDefinition;
  /** True when no live function had this name before (first PUT, or PUT after DELETE). */
  created: boolean;
}

/** A live function and its latest version, for mirroring into NATS. */
export interface LiveFunction {
  name: string;
  latestVersion: number;
}

const LIVE = { deleted: false, latestVersion: { $gte: 1 } } as const;

const isLive = (doc: FunctionDoc | null): doc is FunctionDoc & { latestVersion: number } =>
  doc !== null && !doc.deleted && typeof doc.latestVersion === "number";

export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

export class FunctionStore {
  private readonly functions: Collection<FunctionDoc>;
  private readonly versions: Collection<VersionDoc>;
  /** The tail of each function's queue of writes. */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(db: Db) {
    this.functions = db.collection<FunctionDoc>("functions");
    this.versions = db.collection<VersionDoc>("function_versions");
  }

  async ensureIndexes(): Promise<void> {
    await this.versions.createIndex({ name: 1, version: 1 }, { unique: true });
    await this.functions.createIndex({ deleted: 1 });
  }

  put(name: string, spec: FunctionSpec): Promise<PutOutcome> {
    return this.serialised(name, () => this.putNow(name, spec));
  }

  private async putNow(name: string, spec: FunctionSpec): Promise<PutOutcome> {
    const definition = await this.insertNextVersion(name, spec);
    const version = definition.version;
    const before = await this.functions.findOneAndUpdate(
      { _id: name },
      { $max: { latestVersion: version }, $set: { deleted: false, updatedAt: new Date() }, $unset: { deletedAt: "" } },
      { returnDocument: "before" },
    );
    return { definition, created: !isLive(before) };
  }

  /** The latest version, or a given one; NOT_FOUND when the function is absent or deleted. */
  async get(name: string, version?: number): Promise<FunctionDefinition> {
    const fn = await this.functions.findOne({ _id: name });
    if (!isLive(fn)) throw notFound(`function ${name}`);
    const wanted = version ?? fn.latestVersion;
    if (wanted > fn.latestVersion) throw notFound(`function ${name} version ${wanted}`);
    const doc = await this.versions.findOne({ _id: versionKey(name, wanted) });
    if (!doc) throw notFound(`function ${name} version ${wanted}`);
    return fromVersionDoc(doc);
  }

  /** Live functions with their latest version, without code, sorted by name. */
  async list(): Promise<FunctionSummary[]> {
    const live = await this.liveFunctions();
    if (live.length === 0) return [];
    const ids = live.map((f) => versionKey(f.name, f.latestVersion));
    const docs = await this.versions.find({ _id: { $in: ids } }, { projection: { code: 0 } }).toArray();
    return docs.map((d) => toSummary(d)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Marks the function deleted; NOT_FOUND when there is no live function of that name. */
  delete(name: string): Promise<void> {
    return this.serialised(name, () => this.deleteNow(name));
  }

  private async deleteNow(name: string): Promise<void> {
    const now = new Date();
    const before = await this.functions.findOneAndUpdate(
      { _id: name, ...LIVE },
      { $set: { deleted: true, deletedAt: now, updatedAt: now } },
      { returnDocument: "before" },
    );
    if (!before) throw notFound(`function ${name}`);
  }

  /** True when a function of this name was ever created (it may be deleted since). */
  async known(name: string): Promise<boolean> {
    return (await this.functions.countDocuments({ _id: name, latestVersion: { $gte: 1 } }, { limit: 1 })) > 0;
  }

  async isLive(name: string): Promise<boolean> {
    return (await this.functions.countDocuments({ _id: name, ...LIVE }, { limit: 1 })) > 0;
  }

  async liveFunctions(): Promise<LiveFunction[]> {
    const docs = await this.functions.find(LIVE, { projection: { latestVersion: 1 } }).sort({ _id: 1 }).toArray();
    return docs.map((d) => ({ name: d._id, latestVersion: d.latestVersion! }));
  }

  /** The version numbers stored for a function, up to its latest (uncommitted reservations excluded). */
  async versionNumbers(name: string, upTo: number): Promise<number[]> {
    const docs = await this.versions
      .find({ name, version: { $lte: upTo } }, { projection: { version: 1 } })
      .sort({ version: 1 })
      .toArray();
    return docs.map((d) => d.version);
  }

  /** Runs writes to one function one after another (see the note at the top of this file). */
  private async serialised<T>(name: string, write: () => Promise<T>): Promise<T> {
    const previous = this.writing.get(name) ?? Promise.resolve();
    const mine = previous.then(write, write);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.writing.set(name, tail);
    try {
      return await mine;
    } finally {
      if (this.writing.get(name) === tail) this.writing.delete(name);
    }
  }

  /** Reserves a number and stores the version under it; a collision (another writer, a lost $inc) reserves again. */
  private async insertNextVersion(name: string, spec: FunctionSpec): Promise<FunctionDefinition> {
    for (let attempt = 1; ; attempt++) {
      try {
        const definition = buildDefinition(name, await this.reserveVersion(name), spec);
        await this.versions.insertOne(toVersionDoc(definition));
        return definition;
      } catch (err) {
        if (!isDuplicateKey(err) || attempt >= RESERVE_RETRIES) throw err;
      }
    }
  }

  private async reserveVersion(name: string): Promise<number> {
    const after = await this.functions.findOneAndUpdate(
      { _id: name },
      { $inc: { versionSeq: 1 }, $setOnInsert: { createdAt: new Date(), deleted: false } },
      { upsert: true, returnDocument: "after" },
    );
    if (!after) throw new Error(`reserving a version of ${name} returned no document`);
    return after.versionSeq;
  }
}

/** Also what two first PUTs of a name get when both try to insert its document (MongoDB retries that itself). */

const RESERVE_RETRIES = 10;

function buildDefinition(name: string, version: number, spec: FunctionSpec): FunctionDefinition {
  const { name: _ignored, ...rest } = spec;
  return { ...rest, name, version, codeSha256: sha256(spec.code), createdAt: new Date().toISOString() };
}

function toVersionDoc(def: FunctionDefinition): VersionDoc {
  return {
    ...def,
    _id: versionKey(def.name, def.version),
    codeBytes: Buffer.byteLength(def.code),
    createdAt: new Date(def.createdAt),
  };
}

function fromVersionDoc(doc: VersionDoc): FunctionDefinition {
  const { _id, codeBytes, createdAt, ...rest } = doc;
  return { ...rest, createdAt: createdAt.toISOString() };
}

/** The driver does not narrow projected documents: `code` is typed but absent here. */
function toSummary(doc: VersionDoc): FunctionSummary {
  const { _id, createdAt, code: _absent, ...rest } = doc;
  return { ...rest, createdAt: createdAt.toISOString() };
}
