// Metrics over time: GET /v1/metrics (the whole fabric, with a line per function) and
// GET /v1/functions/{name}/metrics/series (one function).
import { MetricsSeries, MetricsSeriesQuery } from "../shared/schemas/metrics-series.js";
import type { ControllerClient } from "./controller-client.js";
import { NameParams, NoQuery } from "./http-params.js";
import { route, type Route } from "./http-routes.js";

const STEPS = "Per step (a minute, or longer for long windows: at most 120 steps): calls, failures (error, timeout, killed), cold starts, latency p50/p95/p99.";

export function metricsSeriesRoutes(controller: ControllerClient): Route[] {
  return [
    route({
      method: "GET", path: "/v1/metrics", operationId: "getFabricMetrics", tag: "invocations", params: NoQuery, query: MetricsSeriesQuery,
      summary: "The whole fabric's metrics over a window, step by step, with a line per function",
      description: STEPS,
      responses: { 200: { description: "the metrics", schema: MetricsSeries } },
      errors: ["INVALID_ARGUMENT", "UNAVAILABLE"],
      handle: async ({ query }) => ({ status: 200, body: await controller.metricsSeries(undefined, query.windowMs) }),
    }),
    route({
      method: "GET", path: "/v1/functions/{name}/metrics/series", operationId: "getMetricsSeries", tag: "invocations", params: NameParams, query: MetricsSeriesQuery,
      summary: "A function's metrics over a window, step by step",
      description: STEPS,
      responses: { 200: { description: "the metrics", schema: MetricsSeries } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params, query }) => ({ status: 200, body: await controller.metricsSeries(params.name, query.windowMs) }),
    }),
  ];
}
