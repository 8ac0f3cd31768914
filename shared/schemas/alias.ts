// Aliases (Lambda's): a name that points to one version of a function, optionally sending a share of the calls
// to other versions (a canary). An alias belongs to one incarnation of the function: a function deleted and
// created again has none.
import { z } from "zod";
import { FunctionName } from "./function.js";

export const ALIAS_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9_-]{0,62}$/;
/** Starts with a letter, so an alias can never be mistaken for a version number. */
export const AliasName = z.string().regex(ALIAS_NAME_PATTERN, "must match [a-zA-Z][a-zA-Z0-9_-]{0,62}");

/** At most this many other versions share an alias's calls. */
export const MAX_WEIGHTED_VERSIONS = 4;

const VersionNumber = z.number().int().min(1).max(999_999_999);

export const AliasWeights = z
  .record(z.string().regex(/^[1-9]\d{0,8}$/, "keys must be version numbers"), z.number().gt(0, "must be > 0").lt(1, "must be < 1"))
  .refine((w) => Object.keys(w).length <= MAX_WEIGHTED_VERSIONS, `at most ${MAX_WEIGHTED_VERSIONS} versions`)
  .refine((w) => Object.values(w).reduce((a, b) => a + b, 0) < 1, "must add up to less than 1 (the rest runs version)")
  .describe('the share (0..1) of calls each other version gets, by version number: {"4": 0.1}; the rest runs `version`');

/** The body of PUT /v1/functions/{name}/aliases/{alias}. */
export const AliasSpec = z
  .strictObject({ version: VersionNumber.describe("the version the alias runs"), weights: AliasWeights.optional() })
  .refine((s) => s.weights?.[String(s.version)] === undefined, { message: "must not name the alias's own version", path: ["weights"] });
export type AliasSpec = z.infer<typeof AliasSpec>;

export const Alias = z.object({
  name: AliasName,
  functionName: FunctionName,
  version: VersionNumber,
  weights: z.record(z.string(), z.number()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Alias = z.infer<typeof Alias>;

export const AliasList = z.object({ aliases: z.array(Alias) });
export const DeleteAliasResult = z.object({ name: FunctionName, alias: AliasName, deleted: z.literal(true) });
export type DeleteAliasResult = z.infer<typeof DeleteAliasResult>;
export const DeleteVersionResult = z.object({ name: FunctionName, version: VersionNumber, deleted: z.literal(true) });
export type DeleteVersionResult = z.infer<typeof DeleteVersionResult>;

/** The version one call runs: each weighted version by its share, the alias's version otherwise. `draw` is in [0, 1). */
export function pickVersion(alias: Pick<Alias, "version" | "weights">, draw: number): number {
  let edge = 0;
  for (const [version, weight] of Object.entries(alias.weights)) {
    edge += weight;
    if (draw < edge) return Number(version);
  }
  return alias.version;
}

/** The versions an alias can run (a version it names cannot be deleted). */
export const versionsOf = (alias: Pick<Alias, "version" | "weights">): number[] => [alias.version, ...Object.keys(alias.weights).map(Number)];
