// GET /v1/functions/{name}/versions: every version of a function, newest first, without the code
// (GET /v1/functions/{name}?version=N has a version's code).
import { FunctionVersions } from "../shared/schemas/function-versions.js";
import type { ControllerClient } from "./controller-client.js";
import { BuildReport } from "../shared/schemas/build.js";
import { NameParams, NoQuery, VersionParams } from "./http-params.js";
import { route, type Route } from "./http-routes.js";

export function versionRoutes(controller: ControllerClient): Route[] {
  return [
    route({
      method: "GET", path: "/v1/functions/{name}/versions", operationId: "listVersions", tag: "functions", params: NameParams, query: NoQuery,
      summary: "Every version of a function, newest first, without the code",
      responses: { 200: { description: "the versions", schema: FunctionVersions } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await controller.functionVersions(params.name) }),
    }),
    route({
      method: "GET", path: "/v1/functions/{name}/versions/{version}/build", operationId: "getBuild", tag: "functions", params: VersionParams, query: NoQuery,
      summary: "A bundle version's build: its state (building, ready, failed) and its log",
      responses: { 200: { description: "the build and its log", schema: BuildReport } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await controller.buildReport(params.name, params.version) }),
    }),
  ];
}
