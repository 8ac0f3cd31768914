// Which agent a direct sync call goes to: its function's home, by rendezvous (highest random weight) hashing of the
// function's name against each running agent's id, with bounded loads. Every gateway that knows the same agents
// ranks them the same way for a function, so its calls reach the agent that holds its warm containers instead of
// warming one on every agent; when an agent joins or leaves, only the functions whose home it becomes or was move.
// A home already running LOAD_FACTOR times its share of this gateway's direct calls (and SPARE more) is passed over
// for the next agent in the function's ranking, so a hot function spreads over agents instead of queueing on one
// ("consistent hashing with bounded loads", Mirrokni, Thorup and Zadimoghaddam, 2018). A home that cannot take a
// call (no free direct slot, draining) hands it back and it is queued for whichever agent is free, as before. Pure.

/**
 * A home may run this many times the average of the gateway's direct calls in flight per agent, and SPARE calls
 * more, before the next agent in the ranking takes its function's calls. The spare keeps a few calls' chance skew
 * (eight calls in flight, seven of whose functions live on one agent) from warming functions on a second agent.
 */
export const LOAD_FACTOR = 1.25;
export const SPARE = 4;

/**
 * The agent for a call of `fn` among `agentIds`, given the direct calls this gateway has in flight on each: the
 * first in the function's ranking under the load bound; undefined when there is no agent.
 */
export function pickAgent(fn: string, agentIds: readonly string[], inflight: ReadonlyMap<string, number> = NONE, loadFactor = LOAD_FACTOR, spare = SPARE): string | undefined {
  if (agentIds.length <= 1) return agentIds[0];
  let total = 0;
  for (const id of agentIds) total += inflight.get(id) ?? 0;
  // The call being placed counts: with nothing in flight, the bound is at least 1 and the home takes it.
  const bound = Math.ceil((loadFactor * (total + 1)) / agentIds.length) + spare;
  return firstInRanking(fn, agentIds, (id) => (inflight.get(id) ?? 0) < bound) ?? homeAgent(fn, agentIds);
}

/** The home of `fn` among `agentIds` (its first choice, whatever the load), or undefined when there is none. */
export const homeAgent = (fn: string, agentIds: readonly string[]): string | undefined => firstInRanking(fn, agentIds, () => true);

/** The eligible agent that ranks first for `fn`; ties (1 in 2^32) go to the smaller id, whatever the list's order. */
function firstInRanking(fn: string, agentIds: readonly string[], eligible: (id: string) => boolean): string | undefined {
  const fnHash = fnv1a(fn, FNV_OFFSET);
  let best: string | undefined;
  let bestWeight = -1;
  for (const id of agentIds) {
    if (!eligible(id)) continue;
    const w = mix32(fnv1a(id, fnHash));
    if (w > bestWeight || (w === bestWeight && best !== undefined && id < best)) {
      best = id;
      bestWeight = w;
    }
  }
  return best;
}

const NONE: ReadonlyMap<string, number> = new Map();
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over a string's UTF-16 code units, continuing from `seed`, then a separator byte. */
function fnv1a(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  return Math.imul(h ^ 0xff, FNV_PRIME) >>> 0;
}

/** murmur3's finaliser: every input bit moves every output bit, which FNV alone does poorly for short keys. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
