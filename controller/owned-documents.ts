// Documents with one writer each, found again by their _id alone.
//
// FerretDB on SQLite answers only an exact `{_id}` filter from an index (anything else scans the collection) and
// updates a document by reading and rewriting it (a $inc from two writers can lose one). So the listing pages and
// metrics rollups are documents that exactly one controller writes: it claims `<key>|<slot>` by inserting it (a
// duplicate _id means another writer holds that slot: it tries the next), then replaces it as it sees fit. Readers
// look up the slots in order. On MongoDB the same operations are as cheap and as safe.
import type { Collection } from "mongodb";
import { isDuplicateKey } from "./database.js";

/** Past this many taken slots something is wrong (slots are claimed per writer lifetime, not per write). */
const MAX_SLOTS = 10_000;

/** Inserts `doc` as `<key>|<slot>` at the first free slot from `from`; returns the slot it took. */
export async function claimSlot<D extends { _id: string }>(
  collection: Collection<D>,
  key: string,
  from: number,
  doc: (slot: number) => D,
): Promise<number> {
  for (let slot = Math.max(0, from); slot < from + MAX_SLOTS; slot++) {
    try {
      await collection.insertOne(doc(slot) as never);
      return slot;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }
  throw new Error(`no free slot for ${key} in ${MAX_SLOTS} tries`);
}

export const slotId = (key: string, slot: number): string => `${key}|${slot}`;

/** `xs` cut into runs of at most `size`, in order (a bulk command per run). */
export function chunks<T>(xs: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));
}

/** Runs `work` over `items`, at most `width` at a time (FerretDB serves one connection's commands in turn). */
export async function inParallel<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return out;
}
