// Aliases in MongoDB: `function_aliases`, one document per alias of one incarnation:
// { _id: "<name>.<incarnation>.<alias>", name, incarnation, alias, version, weights, createdAt, updatedAt }.
// Keyed by the incarnation like versions, so a function deleted and created again starts with no aliases, and
// the deleted one's are purged with its versions. The caller runs writes to one function one after another
// (controller/write-queue.ts), which keeps "no alias points to a deleted version" true.
import type { Collection, Db } from "mongodb";
import { notFound } from "../shared/errors.js";
import { versionsOf, type Alias, type AliasSpec } from "../shared/schemas/alias.js";
import type { Incarnated } from "./invocation-records.js";

interface AliasDoc {
  _id: string;
  name: string;
  incarnation: string;
  alias: string;
  version: number;
  weights: Record<string, number>;
  createdAt: Date;
  updatedAt: Date;
}

const aliasKey = (fn: Incarnated, alias: string) => `${fn.functionName}.${fn.incarnation}.${alias}`;

export class AliasStore {
  private readonly aliases: Collection<AliasDoc>;

  constructor(db: Db) {
    this.aliases = db.collection<AliasDoc>("function_aliases");
  }

  /** Creates the alias or moves it; answers it as stored. */
  async put(fn: Incarnated, alias: string, spec: AliasSpec): Promise<Alias> {
    const now = new Date();
    const doc = await this.aliases.findOneAndUpdate(
      { _id: aliasKey(fn, alias) },
      {
        $set: { version: spec.version, weights: spec.weights ?? {}, updatedAt: now },
        $setOnInsert: { name: fn.functionName, incarnation: fn.incarnation, alias, createdAt: now },
      },
      { upsert: true, returnDocument: "after" },
    );
    if (!doc) throw new Error(`alias ${alias} of ${fn.functionName} was not stored`);
    return toAlias(doc);
  }

  async get(fn: Incarnated, alias: string): Promise<Alias> {
    const doc = await this.aliases.findOne({ _id: aliasKey(fn, alias) });
    if (!doc) throw notFound(`alias ${alias} of function ${fn.functionName}`);
    return toAlias(doc);
  }

  async list(fn: Incarnated): Promise<Alias[]> {
    const docs = await this.aliases.find({ name: fn.functionName, incarnation: fn.incarnation }).toArray();
    return docs.map(toAlias).sort((a, b) => a.name.localeCompare(b.name));
  }

  async delete(fn: Incarnated, alias: string): Promise<void> {
    const { deletedCount } = await this.aliases.deleteOne({ _id: aliasKey(fn, alias) });
    if (deletedCount === 0) throw notFound(`alias ${alias} of function ${fn.functionName}`);
  }

  /** The aliases that can run this version (as their version or a weighted one). */
  async pointingTo(fn: Incarnated, version: number): Promise<string[]> {
    return (await this.list(fn)).filter((a) => versionsOf(a).includes(version)).map((a) => a.name);
  }

  /** Removes an ended incarnation's aliases. */
  async purge(fn: Incarnated): Promise<number> {
    return (await this.aliases.deleteMany({ name: fn.functionName, incarnation: fn.incarnation })).deletedCount;
  }
}

function toAlias(doc: AliasDoc): Alias {
  return {
    name: doc.alias,
    functionName: doc.name,
    version: doc.version,
    weights: doc.weights,
    createdAt: doc.createdAt.toISOString(),
    updatedAt: doc.updatedAt.toISOString(),
  };
}
