// Which version an invocation by alias runs. The alias comes from the controller and is kept for a short time
// per gateway, so a busy alias costs one controller request per ALIAS_TTL_MS, not one per call; the gateway
// that changes an alias forgets its copy at once, others within ALIAS_TTL_MS. Keyed by the incarnation: a
// re-created function never runs a deleted one's alias.
import { pickVersion, type Alias } from "../shared/schemas/alias.js";
import type { ControllerClient } from "./controller-client.js";

/** How long a gateway keeps an alias before asking the controller again (README, Aliases). */
export const ALIAS_TTL_MS = 1000;
/** Bound on the aliases kept at once. */
const MAX_KEPT = 10_000;

export class AliasResolver {
  private readonly kept = new Map<string, { alias: Promise<Alias>; until: number }>();

  constructor(
    private readonly controller: ControllerClient,
    private readonly draw: () => number = Math.random,
  ) {}

  /** The version this call runs: weighted versions by their share, the alias's version otherwise. */
  async version(name: string, incarnation: string, alias: string): Promise<number> {
    return pickVersion(await this.alias(name, incarnation, alias), this.draw());
  }

  forget(name: string, alias?: string): void {
    for (const key of this.kept.keys()) {
      if (key.startsWith(`${name}.`) && (alias === undefined || key.endsWith(`.${alias}`))) this.kept.delete(key);
    }
  }

  private alias(name: string, incarnation: string, alias: string): Promise<Alias> {
    const key = `${name}.${incarnation}.${alias}`;
    const now = Date.now();
    const hit = this.kept.get(key);
    if (hit && hit.until > now) return hit.alias;
    const fetched = this.controller.getAlias(name, alias);
    if (this.kept.size >= MAX_KEPT) this.kept.clear();
    this.kept.set(key, { alias: fetched, until: now + ALIAS_TTL_MS });
    // A failure (no such alias, controller down) is not kept: the next call asks again.
    fetched.catch(() => this.kept.delete(key));
    return fetched;
  }
}
