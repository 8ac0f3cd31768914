// Assembles a gateway's trigger parts: the store (KV), its counters, the runners and the service the APIs call.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { openTriggerStatsBucket, openTriggersBucket } from "../shared/event-buckets.js";
import { bucketSettling, whileJetStreamSettles } from "../shared/nats.js";
import type { Logger } from "../shared/logger.js";
import type { AliasResolver } from "./alias-resolver.js";
import type { FunctionCache } from "./function-cache.js";
import type { Invoker } from "./invoker.js";
import { TriggersRunner } from "./triggers-runner.js";
import { TriggersService } from "./triggers-service.js";
import { TriggerCounters, TriggersStore } from "./triggers-store.js";

export interface Triggers {
  service: TriggersService;
  runner: TriggersRunner;
  counters: TriggerCounters;
}

export async function startTriggers(
  d: { nc: NatsConnection; invoker: Invoker; cache: FunctionCache; aliases: AliasResolver; ticks: KV; log: Logger },
  steps: Array<{ name: string; run: () => unknown }>,
): Promise<Triggers> {
  const open = <T>(step: () => Promise<T>) => whileJetStreamSettles(step, "opening the triggers buckets", d.log, bucketSettling);
  const store = new TriggersStore(await open(() => openTriggersBucket(d.nc)), await open(() => openTriggerStatsBucket(d.nc)));
  const counters = new TriggerCounters(store, d.log);
  counters.start();
  steps.push({ name: "trigger counters", run: () => counters.stop() });
  const runner = new TriggersRunner({ nc: d.nc, js: jetstream(d.nc), jsm: () => jetstreamManager(d.nc), triggers: store.kv, ticks: d.ticks, invoker: d.invoker, cache: d.cache, counters, log: d.log });
  steps.push({ name: "trigger runners", run: () => runner.stop() });
  await runner.start();
  const service = new TriggersService({
    store,
    counters,
    cache: d.cache,
    aliases: d.aliases,
    jsm: () => jetstreamManager(d.nc),
    applied: (id, revision) => runner.whenApplied(id, revision),
  });
  return { service, runner, counters };
}
