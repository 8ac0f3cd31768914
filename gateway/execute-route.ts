// POST /v1/execute: ad-hoc code, run once in a fresh sandbox (executor.ts), declared like every other route so
// the OpenAPI document describes it.
import { z } from "zod";
import { asWeftError } from "../shared/errors.js";
import { LIMITS } from "../shared/limits.js";
import { ExecuteRequest, ExecutionResult } from "../shared/schemas/execution.js";
import { HEADERS } from "../shared/headers.js";
import type { Executor } from "./executor.js";
import { parseJson, readBody } from "./http-body.js";
import { NoQuery } from "./http-params.js";
import { route, type Reply, type Route } from "./http-routes.js";
import { RateLimited } from "./rate-limit.js";

export function executeRoute(executor: Executor): Route {
  return route({
    method: "POST", path: "/v1/execute", operationId: "execute", tag: "execute", params: NoQuery, query: NoQuery,
    summary: "Run ad-hoc code once, in a fresh sandbox",
    description:
      "mode script (the default) runs the code as a program with stdin: exit code 0 is status ok, another is status error " +
      "with code NONZERO_EXIT. mode handler runs handler(event, context) as for functions and adds output. The sandbox " +
      "comes from a pre-started pool and is removed afterwards. Rate-limited per client address: 429 with Retry-After.",
    body: {
      description: "the code and how to run it",
      schema: ExecuteRequest,
      maxBytes: LIMITS.functionBodyBytes,
      example: { runtime: "python3", code: "import sys\nprint(sys.stdin.read().upper())\n", stdin: "hello" },
    },
    responses: {
      200: { description: "the result (a program that failed is still 200, with status error, timeout or killed)", schema: ExecutionResult, headers: { [HEADERS.invocationId]: "the run's id" } },
      429: { description: "this client started too many runs; retry after Retry-After seconds", schema: z.object({ error: z.object({ code: z.literal("RESOURCE_EXHAUSTED"), message: z.string() }) }), headers: { "retry-after": "seconds to wait" } },
    },
    errors: ["INVALID_ARGUMENT", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED"],
    handle: async ({ req }): Promise<Reply> => {
      const body = parseJson(await readBody(req, LIMITS.functionBodyBytes, "body"), "body");
      try {
        const result = await executor.execute(body, req.socket.remoteAddress ?? "unknown", "http");
        return { status: 200, body: result, headers: { [HEADERS.invocationId]: invocationIdOf(result) } };
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        return { status: 429, body: { error: asWeftError(err).toBody() }, headers: { "retry-after": String(err.retryAfterS) } };
      }
    },
  });
}

function invocationIdOf(result: Uint8Array): string {
  const m = /"invocationId":"([^"]{1,64})"/.exec(Buffer.from(result.buffer, result.byteOffset, Math.min(result.byteLength, 200)).toString("utf8"));
  return m?.[1] ?? "";
}
