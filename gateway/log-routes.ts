// GET /v1/functions/{name}/logs: a function's recent log lines with invocation id and time, or with ?follow=true a
// Server-Sent Events stream of each new invocation's lines as it ends (the live streams' one shared subscription).
import { invalid, notFound } from "../shared/errors.js";
import { LOG_LINES, LogPage, LogsQuery, parseSince } from "../shared/schemas/function-logs.js";
import type { ControllerClient } from "./controller-client.js";
import { recentLogLines } from "./function-logs.js";
import { NameParams } from "./http-params.js";
import { route, type Route } from "./http-routes.js";
import type { InvocationFeed } from "./invocation-feed.js";

export function logRoutes(controller: ControllerClient, feed: InvocationFeed): Route[] {
  return [
    route({
      method: "GET", path: "/v1/functions/{name}/logs", operationId: "functionLogs", tag: "invocations", params: NameParams, query: LogsQuery,
      summary: "A function's recent log lines, with invocation id and time; with follow=true, a live stream of them",
      description:
        "Each line of the ended invocations' logs, oldest first, the newest `limit` lines of the invocations matching `since` and " +
        "`status` (reaching back the function's 200 newest invocations). With follow=true the answer is a Server-Sent Events " +
        "stream: a `logs` event (data: {lines}) for each invocation that ends from then on and logged something, `lagged` when " +
        "the client read too slowly and missed some. follow takes `status` but not `since` or `limit`.",
      responses: {
        200: { description: "the lines (application/json), or with follow=true the stream (text/event-stream)", schema: LogPage, streamContentType: "text/event-stream" },
      },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED", "UNAVAILABLE"],
      handle: async ({ params, query, res }) => {
        if (query.follow) {
          if (query.since !== undefined) throw invalid("since", "is not taken with follow: the stream is what ends from now on");
          if (query.limit !== undefined) throw invalid("limit", "is not taken with follow: the stream is what ends from now on");
          if (!feed.knows(params.name)) throw notFound(`function ${params.name}`);
          await feed.follow(res, { functionName: params.name, status: query.status }, "logs");
          return { status: 200, body: undefined };
        }
        const since = query.since === undefined ? undefined : parseSince(query.since, Date.now());
        const lines = await recentLogLines(controller, { name: params.name, since, status: query.status, limit: query.limit ?? LOG_LINES.default });
        return { status: 200, body: { lines } satisfies LogPage };
      },
    }),
  ];
}

