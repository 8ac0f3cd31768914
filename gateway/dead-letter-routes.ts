// The dead-letter routes (README "Dead letters"): list and inspect, re-drive one or all, purge.
import { DeadLetterPage, ListDeadLettersQuery, PurgeResult, RedriveRequest, RedriveResult } from "../shared/schemas/dead-letter.js";
import { fromZodError } from "../shared/errors.js";
import { LIMITS } from "../shared/limits.js";
import type { DeadLetters } from "./dead-letters.js";
import { parseJson, readBody } from "./http-body.js";
import { NameParams, NoQuery } from "./http-params.js";
import { route, type Route } from "./http-routes.js";

const REDRIVE_BODY_BYTES = 4096;
export function deadLetterRoutes(deadLetters: DeadLetters): Route[] {
  return [
    route({
      method: "GET", path: "/v1/functions/{name}/dead-letters", operationId: "listDeadLetters", tag: "dead letters", params: NameParams, query: ListDeadLettersQuery,
      summary: "A function's dead letters, oldest first: async invocations that failed after their retries, expired, or were refused by loop detection",
      description: "With `id`, the one dead letter of that invocation (inspect), or 404.",
      responses: { 200: { description: "a page of dead letters, with their events, attempts and last errors", schema: DeadLetterPage } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params, query }) => {
        if (query.id !== undefined) return { status: 200, body: { deadLetters: [await deadLetters.get(params.name, query.id)] } };
        return { status: 200, body: await deadLetters.list(params.name, query.limit ?? LIMITS.listLimit.default, query.after ?? 0) };
      },
    }),
    route({
      method: "POST", path: "/v1/functions/{name}/dead-letters/redrive", operationId: "redriveDeadLetters", tag: "dead letters", params: NameParams, query: NoQuery,
      summary: "Re-drive one dead letter ({\"id\": …}) or all ({\"all\": true}) as new async invocations of the function's latest version",
      description: "Each dead letter is removed once its new invocation is queued. `all` re-drives at most 1000 per call.",
      body: { description: "which dead letters", schema: RedriveRequest, maxBytes: REDRIVE_BODY_BYTES, example: { all: true } },
      responses: { 200: { description: "the dead letters re-driven and their new invocations", schema: RedriveResult } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "UNAVAILABLE"],
      handle: async ({ params, req }) => {
        const parsed = RedriveRequest.safeParse(parseJson(await readBody(req, REDRIVE_BODY_BYTES, "body"), "body"));
        if (!parsed.success) throw fromZodError(parsed.error);
        return { status: 200, body: { redriven: await deadLetters.redrive(params.name, parsed.data.id) } };
      },
    }),
    route({
      method: "DELETE", path: "/v1/functions/{name}/dead-letters", operationId: "purgeDeadLetters", tag: "dead letters", params: NameParams, query: NoQuery,
      summary: "Purge a function's dead letters",
      responses: { 200: { description: "how many were purged", schema: PurgeResult } },
      errors: ["INVALID_ARGUMENT", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: { purged: await deadLetters.purge(params.name) } }),
    }),
  ];
}
