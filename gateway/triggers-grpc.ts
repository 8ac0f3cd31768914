// weft.v1.TriggerService: the trigger routes over gRPC, with the same checks and errors (triggers-service.ts).
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { invalid } from "../shared/errors.js";
import type { Trigger } from "../shared/schemas/trigger.js";
import { fromProtoValue, toProtoValue, type ProtoValue } from "./json-value.js";
import type { TriggersService } from "./triggers-service.js";

export interface TriggerSpecMsg {
  function?: string;
  version?: number;
  alias?: string;
  description?: string;
  subject?: string;
  stream?: string;
  filterSubject?: string;
  deliverPolicy?: string;
  maxInFlight?: number;
  ordered?: boolean;
  ordering?: string;
  schedule?: string;
  timezone?: string;
  event?: ProtoValue | null;
}

type Unary = (fn: (req: Record<string, any>) => Promise<unknown>) => UntypedServiceImplementation[string];

export function triggerService(triggers: TriggersService, unary: Unary): UntypedServiceImplementation {
  return {
    PutTrigger: unary(async (req) => {
      const { trigger, created } = await triggers.put(req.id, specFromMessage(req.spec as TriggerSpecMsg | undefined));
      return { trigger: triggerToMessage(trigger), created };
    }),
    GetTrigger: unary(async (req) => triggerToMessage(await triggers.get(req.id))),
    ListTriggers: unary(async () => ({ triggers: (await triggers.list()).map(triggerToMessage) })),
    DeleteTrigger: unary((req) => triggers.delete(req.id)),
    PauseTrigger: unary(async (req) => triggerToMessage(await triggers.pause(req.id, true))),
    ResumeTrigger: unary(async (req) => triggerToMessage(await triggers.pause(req.id, false))),
  };
}

/** The message as the JSON body PUT /v1/triggers/{id} takes: unset fields left out, the event as JSON. */
export function specFromMessage(spec: TriggerSpecMsg | undefined | null): Record<string, unknown> {
  if (!spec) throw invalid("spec", "is required");
  const { event, ...rest } = spec;
  const body: Record<string, unknown> = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  if (event !== undefined && event !== null) body.event = fromProtoValue(event, "event");
  return body;
}

export function triggerToMessage(t: Trigger): Record<string, unknown> {
  const { event, ...rest } = t;
  return event === undefined ? rest : { ...rest, event: toProtoValue(event, "event") };
}
