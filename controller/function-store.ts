// Functions and their immutable versions in MongoDB, the source of truth.
//
// `functions`: one document per name: { _id: name, incarnation, versionSeq, latestVersion?, deleted, createdAt, updatedAt, deletedAt? }.
// `function_versions`: one document per version: { _id: "<name>.<incarnation>.v<n>", name, incarnation, version, ...StoredDefinition, codeBytes }.
//
// A name lives one incarnation at a time. Its first PUT, and the first PUT after each DELETE, mint a new
// incarnation (a random id) and its version numbers start again at 1. Every read goes through the live
// incarnation, so nothing of a deleted one (versions, code, env) can be reached under the name again; DELETE
// also purges the deleted incarnation's versions.
//
// A PUT (1) opens the incarnation, (2) reserves the next number with $inc on versionSeq, (3) inserts the
// version, (4) commits it with $max on latestVersion, only if that incarnation is still the live one. No
// transactions are needed (FerretDB has none): a crash between steps leaves an unreferenced version number,
// never a function pointing at a missing version.
//
// FerretDB 1.24 (SQLite) applies update operators as read-modify-write without locking: concurrent $inc or
// $max on one document lose updates (measured: 8 concurrent $inc hand out duplicates). So (a) the version
// document's unique _id is the arbiter: an insert that collides reserves again, and no two PUTs can ever store
// different code under one version; (b) the caller runs writes to one function one after another
// (controller/write-queue.ts). With a single controller this is exact on FerretDB; on MongoDB the operators are
// atomic, and the conditional updates below keep any number of controllers apart.
import { createHash, randomBytes } from "node:crypto";
import type { Collection, Db } from "mongodb";
import { dropIndexIfPresent, isDuplicateKey } from "./database.js";
import { WeftError, notFound } from "../shared/errors.js";
import type { Build, BundleFile, DeployedSpec, StoredDefinition, FunctionSummary } from "../shared/schemas/function.js";
import { storedRuntime, type Runtime } from "../shared/runtimes.js";
import { versionKey } from "../shared/subjects.js";

interface FunctionDoc {
  _id: string;
  /** Absent only in documents written before incarnations existed (see adopt()). */
  incarnation?: string;
  versionSeq: number;
  latestVersion?: number;
  deleted: boolean;
  createdAt: Date;
  updatedAt?: Date;
  deletedAt?: Date;
}

type Adopted = FunctionDoc & { incarnation: string };

/**
 * A bundle's files as stored: a list, not a map, because file names hold dots and MongoDB-compatible servers
 * (FerretDB) refuse dots in keys.
 */
type StoredFile = { path: string; content: BundleFile };

type VersionDoc = Omit<StoredDefinition, "createdAt" | "files"> & {
  _id: string;
  codeBytes: number;
  createdAt: Date;
  files?: StoredFile[];
  fileCount?: number;
};

/** A version's build log, apart from the version so that reads of versions never carry it. */
interface BuildLogDoc {
  _id: string;
  name: string;
  incarnation: string;
  log: string;
  updatedAt: Date;
}

export interface PutOutcome {
  definition: StoredDefinition;
  /** True when no live function had this name before (first PUT, or PUT after DELETE). */
  created: boolean;
}

/** A live function and its latest version, for mirroring into NATS. */
export interface LiveFunction {
  name: string;
  incarnation: string;
  latestVersion: number;
}

const LIVE = { deleted: false, latestVersion: { $gte: 1 } } as const;

const isLive = (doc: Adopted | null): doc is Adopted & { latestVersion: number } =>
  doc !== null && !doc.deleted && typeof doc.latestVersion === "number";

export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

/** A new incarnation id: 64 random bits, so no two lives of a name share one. */
export const newIncarnation = (): string => randomBytes(8).toString("hex");

/** The one index of the version collection before incarnations: it would refuse version 1 of a second life. */
const LEGACY_VERSION_INDEX = "name_1_version_1";

/** Also what two first PUTs of a name get when both try to insert its document (MongoDB retries that itself). */
const RESERVE_RETRIES = 10;

export class FunctionStore {
  private readonly functions: Collection<FunctionDoc>;
  private readonly versions: Collection<VersionDoc>;
  private readonly buildLogs: Collection<BuildLogDoc>;

  constructor(db: Db) {
    this.functions = db.collection<FunctionDoc>("functions");
    this.versions = db.collection<VersionDoc>("function_versions");
    this.buildLogs = db.collection<BuildLogDoc>("build_logs");
  }

  /** Indexes, then documents from before incarnations are given one. */
  async ensureIndexes(): Promise<void> {
    await dropIndexIfPresent(this.versions, LEGACY_VERSION_INDEX);
    await this.versions.createIndex({ name: 1, incarnation: 1, version: 1 }, { unique: true });
    await this.functions.createIndex({ deleted: 1 });
    for (const doc of await this.functions.find({ incarnation: { $exists: false } }).toArray()) await this.adopt(doc);
  }

  /** Stores a new version. The caller serialises writes to one name (see the note at the top of this file). */
  async put(name: string, spec: DeployedSpec & { code: string }, build?: Build): Promise<PutOutcome> {
    const incarnation = await this.openIncarnation(name);
    const definition = await this.insertNextVersion(name, incarnation, spec, build);
    const before = await this.functions.findOneAndUpdate(
      { _id: name, incarnation, deleted: false },
      { $max: { latestVersion: definition.version }, $set: { updatedAt: new Date() } },
      { returnDocument: "before" },
    );
    if (!before) {
      // Another controller deleted the name meanwhile: this version belongs to a life that is over.
      await this.versions.deleteOne({ _id: versionKey(name, incarnation, definition.version) });
      throw new WeftError("CONFLICT", `function ${name} was deleted while this version was being stored; retry`);
    }
    return { definition, created: before.latestVersion === undefined };
  }

  /** The latest version of the live incarnation, or a given one; NOT_FOUND when the function is absent or deleted. */
  async get(name: string, version?: number): Promise<StoredDefinition> {
    const fn = await this.load(name);
    if (!isLive(fn)) throw notFound(`function ${name}`);
    const wanted = version ?? fn.latestVersion;
    if (wanted > fn.latestVersion) throw notFound(`function ${name} version ${wanted}`);
    const doc = await this.versions.findOne({ _id: versionKey(name, fn.incarnation, wanted) });
    if (!doc) throw notFound(`function ${name} version ${wanted}`);
    return fromVersionDoc(doc);
  }

  /** Live functions with their latest version, without code, sorted by name. */
  async list(): Promise<FunctionSummary[]> {
    const live = await this.liveFunctions();
    if (live.length === 0) return [];
    const ids = live.map((f) => versionKey(f.name, f.incarnation, f.latestVersion));
    const docs = await this.versions.find({ _id: { $in: ids } }, { projection: { code: 0, compiled: 0, files: 0 } }).toArray();
    return docs.map((d) => toSummary(d)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The live incarnation's versions up to its latest, newest first, without code (at most `limit`). */
  async versionList(name: string, limit: number): Promise<{ latestVersion: number; versions: FunctionSummary[] }> {
    const fn = await this.load(name);
    if (!isLive(fn)) throw notFound(`function ${name}`);
    const docs = await this.versions
      .find({ name, incarnation: fn.incarnation, version: { $lte: fn.latestVersion } }, { projection: { code: 0, compiled: 0, files: 0 } })
      .sort({ version: -1 })
      .limit(limit)
      .toArray();
    return { latestVersion: fn.latestVersion, versions: docs.map((d) => toSummary(d)) };
  }

  /** Marks the function deleted and answers the incarnation that ended; NOT_FOUND when there is no live function of that name. */
  async delete(name: string): Promise<string> {
    await this.load(name);
    const now = new Date();
    const before = await this.functions.findOneAndUpdate(
      { _id: name, ...LIVE },
      { $set: { deleted: true, deletedAt: now, updatedAt: now } },
      { returnDocument: "before" },
    );
    if (!before?.incarnation) throw notFound(`function ${name}`);
    return before.incarnation;
  }

  /**
   * Deletes one version of the live incarnation (its number is never used again). The latest version stays:
   * it is what an invocation without a version runs, so it is refused with CONFLICT; NOT_FOUND when absent.
   */
  async deleteVersion(name: string, version: number): Promise<string> {
    const fn = await this.load(name);
    if (!isLive(fn)) throw notFound(`function ${name}`);
    if (version === fn.latestVersion) throw new WeftError("CONFLICT", `version ${version} is the latest version of ${name}; deploy a new version before deleting it`);
    const { deletedCount } = version > fn.latestVersion ? { deletedCount: 0 } : await this.versions.deleteOne({ _id: versionKey(name, fn.incarnation, version) });
    if (deletedCount === 0) throw notFound(`function ${name} version ${version}`);
    return fn.incarnation;
  }

  /** Removes every version (code, env, build logs) of an incarnation that has ended. */
  async purgeVersions(name: string, incarnation: string): Promise<number> {
    await this.buildLogs.deleteMany({ name, incarnation });
    return (await this.versions.deleteMany({ name, incarnation })).deletedCount;
  }

  /** Records a version's build outcome and log; answers the version as now stored (undefined when it is gone). */
  async setBuild(def: StoredDefinition, build: Build, log: string): Promise<StoredDefinition | undefined> {
    const _id = versionKey(def.name, def.incarnation, def.version);
    await this.buildLogs.replaceOne({ _id }, { name: def.name, incarnation: def.incarnation, log, updatedAt: new Date() }, { upsert: true });
    const after = await this.versions.findOneAndUpdate({ _id }, { $set: { build } }, { returnDocument: "after" });
    return after ? fromVersionDoc(after) : undefined;
  }

  /** A version's build log (the live incarnation's); NOT_FOUND when the version is absent. */
  async buildLog(name: string, version: number): Promise<{ definition: StoredDefinition; log: string }> {
    const definition = await this.get(name, version);
    const doc = await this.buildLogs.findOne({ _id: versionKey(name, definition.incarnation, version) });
    return { definition, log: doc?.log ?? "" };
  }

  /**
   * The layers and bundle folders every stored version references, whatever its state (building ones too), for the
   * build directory's garbage collection. A scan: FerretDB answers no query on build.* from an index; it reads only
   * bundles' versions, and runs every WEFT_BUILD_GC_INTERVAL_MS.
   */
  async buildReferences(): Promise<{ layers: Set<string>; bundles: Set<string> }> {
    const refs = { layers: new Set<string>(), bundles: new Set<string>() };
    const cursor = this.versions.find({ build: { $exists: true } }, { projection: { build: 1 } });
    for await (const doc of cursor) {
      if (doc.build?.layer) refs.layers.add(doc.build.layer);
      if (doc.build?.bundleSha256) refs.bundles.add(doc.build.bundleSha256);
    }
    return refs;
  }

  /** Versions whose build had not finished (a controller stopped midway): they are built again. */
  async unfinishedBuilds(): Promise<StoredDefinition[]> {
    const docs = await this.versions.find({ "build.status": "building" }).toArray();
    return docs.map((d) => fromVersionDoc(d));
  }

  /** True when a function of this name was ever created (it may be deleted since). */
  async known(name: string): Promise<boolean> {
    return (await this.functions.countDocuments({ _id: name, latestVersion: { $gte: 1 } }, { limit: 1 })) > 0;
  }

  /** The live incarnation of a name; undefined when the function is absent or deleted. */
  async liveIncarnation(name: string): Promise<string | undefined> {
    const fn = await this.load(name);
    return isLive(fn) ? fn.incarnation : undefined;
  }

  async isLive(name: string): Promise<boolean> {
    return (await this.liveIncarnation(name)) !== undefined;
  }

  async liveFunctions(): Promise<LiveFunction[]> {
    const docs = await this.functions.find(LIVE).sort({ _id: 1 }).toArray();
    const out: LiveFunction[] = [];
    for (const doc of docs) {
      const fn = doc.incarnation ? (doc as Adopted) : await this.adopt(doc);
      if (isLive(fn)) out.push({ name: fn._id, incarnation: fn.incarnation, latestVersion: fn.latestVersion });
    }
    return out;
  }

  /** The version numbers stored for an incarnation, up to its latest (uncommitted reservations excluded). */
  async versionNumbers(name: string, incarnation: string, upTo: number): Promise<number[]> {
    const docs = await this.versions
      .find({ name, incarnation, version: { $lte: upTo } }, { projection: { version: 1 } })
      .sort({ version: 1 })
      .toArray();
    return docs.map((d) => d.version);
  }

  private async load(name: string): Promise<Adopted | null> {
    const doc = await this.functions.findOne({ _id: name });
    if (!doc) return null;
    return doc.incarnation ? (doc as Adopted) : this.adopt(doc);
  }

  /** The incarnation a PUT adds to: the live one, or a new one when the name is new or was deleted. */
  private async openIncarnation(name: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const doc = await this.load(name);
      if (doc && !doc.deleted) return doc.incarnation;
      const incarnation = newIncarnation();
      if (await this.begin(name, doc, incarnation)) return incarnation;
      if (attempt >= RESERVE_RETRIES) throw new WeftError("CONFLICT", `function ${name} changed concurrently; retry`);
    }
  }

  /** Starts a new life of the name: numbering from 1, nothing of a deleted life reachable. False when another writer won. */
  private async begin(name: string, doc: Adopted | null, incarnation: string): Promise<boolean> {
    const fresh = { incarnation, versionSeq: 0, deleted: false, createdAt: new Date() };
    if (!doc) {
      try {
        await this.functions.insertOne({ _id: name, ...fresh });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    }
    const reset = await this.functions.updateOne(
      { _id: name, incarnation: doc.incarnation, deleted: true },
      { $set: fresh, $unset: { latestVersion: "", deletedAt: "", updatedAt: "" } },
    );
    return reset.matchedCount === 1;
  }

  /** Reserves a number and stores the version under it; a collision (another writer, a lost $inc) reserves again. */
  private async insertNextVersion(name: string, incarnation: string, spec: DeployedSpec & { code: string }, build: Build | undefined): Promise<StoredDefinition> {
    for (let attempt = 1; ; attempt++) {
      try {
        const definition = buildDefinition(name, incarnation, await this.reserveVersion(name, incarnation), spec, build);
        await this.versions.insertOne(toVersionDoc(definition));
        return definition;
      } catch (err) {
        if (!isDuplicateKey(err) || attempt >= RESERVE_RETRIES) throw err;
      }
    }
  }

  private async reserveVersion(name: string, incarnation: string): Promise<number> {
    const after = await this.functions.findOneAndUpdate({ _id: name, incarnation }, { $inc: { versionSeq: 1 } }, { returnDocument: "after" });
    if (!after) throw new WeftError("CONFLICT", `function ${name} was deleted and created again meanwhile; retry`);
    return after.versionSeq;
  }

  /**
   * Gives a document from before incarnations its incarnation, derived from the name so that concurrent or
   * repeated adoptions agree: its versions are copied under their new keys first and the function document is
   * marked last, so a crash midway is finished by the next adoption. A deleted one's versions are purged.
   */
  private async adopt(doc: FunctionDoc): Promise<Adopted> {
    const incarnation = sha256(`weft-legacy:${doc._id}`).slice(0, 16);
    for (const old of await this.versions.find({ name: doc._id, incarnation: { $exists: false } }).toArray()) {
      if (!doc.deleted) await this.insertIfAbsent({ ...old, incarnation, _id: versionKey(doc._id, incarnation, old.version) });
      await this.versions.deleteOne({ _id: old._id });
    }
    await this.functions.updateOne({ _id: doc._id, incarnation: { $exists: false } }, { $set: { incarnation } });
    const adopted = await this.functions.findOne({ _id: doc._id });
    if (!adopted?.incarnation) throw new Error(`function ${doc._id} could not be given an incarnation`);
    return adopted as Adopted;
  }

  private async insertIfAbsent(doc: VersionDoc): Promise<void> {
    try {
      await this.versions.insertOne(doc);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }
}

function buildDefinition(name: string, incarnation: string, version: number, spec: DeployedSpec & { code: string }, build: Build | undefined): StoredDefinition {
  const { name: _ignored, ...rest } = spec;
  return { ...rest, ...(build ? { build } : {}), name, incarnation, version, codeSha256: sha256(spec.code), createdAt: new Date().toISOString() };
}

function toVersionDoc(def: StoredDefinition): VersionDoc {
  const { files, ...rest } = def;
  return {
    ...rest,
    ...(files ? { files: Object.entries(files).map(([path, content]) => ({ path, content })), fileCount: Object.keys(files).length } : {}),
    _id: versionKey(def.name, def.incarnation, def.version),
    codeBytes: Buffer.byteLength(def.code),
    createdAt: new Date(def.createdAt),
  };
}

function fromVersionDoc(doc: VersionDoc): StoredDefinition {
  const { _id, codeBytes, createdAt, files, fileCount: _count, ...rest } = doc;
  return {
    ...rest,
    runtime: storedRuntime(rest.runtime) as Runtime,
    ...(files ? { files: Object.fromEntries(files.map((f) => [f.path, f.content])) } : {}),
    createdAt: createdAt.toISOString(),
  };
}

/** The driver does not narrow projected documents: `code` and `files` are typed but absent here. */
function toSummary(doc: VersionDoc): FunctionSummary {
  const { _id, createdAt, code: _absent, compiled: _alsoAbsent, files: _none, ...rest } = doc;
  return { ...rest, runtime: storedRuntime(rest.runtime) as Runtime, createdAt: createdAt.toISOString() };
}
