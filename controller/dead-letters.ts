// The controller's part in dead letters: a deleted function's are purged with the rest of its data (README
// "Deleted means deleted"), so a function created again under the name starts with none. Listing, re-driving and
// purging on request are the gateway's (gateway/dead-letters.ts); agents and the job reaper write them.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { DEAD_LETTERS_STREAM, deadLettersOf } from "../shared/subjects.js";

export class DeadLetterPurge {
  constructor(private readonly nc: NatsConnection) {}

  /** Removes every dead letter of the function name; resolves with how many. */
  async purge(functionName: string): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    return (await jsm.streams.purge(DEAD_LETTERS_STREAM, { filter: deadLettersOf(functionName) })).purged;
  }
}
