// weft.v1.DeadLetterService: the dead-letter routes over gRPC, with the same checks and errors. Listing and
// inspecting are served by the HTTP read route itself (grpc-routes.ts's RouteCall); re-drive and purge, which take a
// body or change state, call DeadLetters after checking the message with the same schemas.
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { fromZodError, invalid } from "../shared/errors.js";
import { FunctionName } from "../shared/schemas/function.js";
import { RedriveRequest, type DeadLetterView } from "../shared/schemas/dead-letter.js";
import type { DeadLetters } from "./dead-letters.js";
import type { RouteCall } from "./grpc-routes.js";
import { toProtoValue } from "./json-value.js";

type Unary = (fn: (req: Record<string, any>) => Promise<unknown>) => UntypedServiceImplementation[string];

export function deadLetterService(deadLetters: DeadLetters, call: RouteCall, unary: Unary): UntypedServiceImplementation {
  const page = (req: Record<string, any>) => call("listDeadLetters", { name: req.name }, { limit: req.limit, after: req.after, id: req.id }) as Promise<{ deadLetters: DeadLetterView[]; next?: number }>;
  return {
    ListDeadLetters: unary(async (req) => {
      const p = await page(req);
      return { ...p, deadLetters: p.deadLetters.map(deadLetterToMessage) };
    }),
    GetDeadLetter: unary(async (req) => {
      if (!req.id) throw invalid("id", "is required");
      return deadLetterToMessage((await page({ name: req.name, id: req.id })).deadLetters[0]!);
    }),
    RedriveDeadLetters: unary(async (req) => {
      const name = functionName(req.name);
      const parsed = RedriveRequest.safeParse({ ...(req.id ? { id: req.id } : {}), ...(req.all ? { all: true } : {}) });
      if (!parsed.success) throw fromZodError(parsed.error);
      return { redriven: await deadLetters.redrive(name, parsed.data.id) };
    }),
    PurgeDeadLetters: unary(async (req) => ({ purged: await deadLetters.purge(functionName(req.name)) })),
  };
}

function functionName(raw: unknown): string {
  const parsed = FunctionName.safeParse(raw);
  if (!parsed.success) throw invalid("name", parsed.error.issues[0]?.message ?? "is invalid");
  return parsed.data;
}

/** The view as the DeadLetter message: the event as a google.protobuf.Value. */
export function deadLetterToMessage(d: DeadLetterView): Record<string, unknown> {
  const { event, ...rest } = d;
  return { ...rest, event: toProtoValue(event ?? null, "event") };
}
