// GET /v1/invocations: the invocation history across functions (or of one), newest first, filtered by status
// and time, in pages. GET /v1/invocations/live: a Server-Sent Events stream of invocations as they happen.
import { LIMITS } from "../shared/limits.js";
import { InvocationListQuery, InvocationLiveQuery, InvocationPage, formatCursor, parseCursor } from "../shared/schemas/invocation-list.js";
import type { ControllerClient } from "./controller-client.js";
import { NoQuery } from "./http-params.js";
import { route, type Route } from "./http-routes.js";
import type { InvocationFeed } from "./invocation-feed.js";

export function invocationRoutes(controller: ControllerClient, feed: InvocationFeed): Route[] {
  return [
    route({
      method: "GET", path: "/v1/invocations", operationId: "queryInvocations", tag: "invocations", params: NoQuery, query: InvocationListQuery,
      summary: "Invocation records across functions (or of one), newest first, filtered and paged",
      description: "A page of records; pass its `next` as `before` for the following page (paging never skips nor repeats a record).",
      responses: { 200: { description: "a page of records", schema: InvocationPage } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ query }) => {
        const page = await controller.queryInvocations({
          name: query.function,
          status: query.status,
          limit: query.limit ?? LIMITS.listLimit.default,
          before: query.before === undefined ? undefined : parseCursor(query.before),
          since: query.since === undefined ? undefined : parseCursor(query.since)?.at,
        });
        const body: InvocationPage = page.next ? { invocations: page.invocations, next: formatCursor(page.next) } : { invocations: page.invocations };
        return { status: 200, body };
      },
    }),
    route({
      method: "GET", path: "/v1/invocations/live", operationId: "followInvocations", tag: "invocations", params: NoQuery, query: InvocationLiveQuery,
      summary: "A live stream of invocations as they are queued, start and finish (Server-Sent Events)",
      description:
        "Each change is an `invocation` event whose data is the record without event, output and logs (GET /v1/invocations/{id} " +
        "has those). A `lagged` event says the client read too slowly and missed some: reload the list. The stream runs until " +
        "the client leaves; EventSource reconnects by itself.",
      responses: { 200: { description: "the stream", contentType: "text/event-stream" } },
      errors: ["INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "UNAVAILABLE"],
      handle: async ({ query, res }) => {
        await feed.follow(res, { functionName: query.function, status: query.status });
        return { status: 200, body: undefined };
      },
    }),
  ];
}
