// The triggers' HTTP routes: PUT, GET, DELETE /v1/triggers/{id}, GET /v1/triggers, POST /v1/triggers/{id}/pause|resume.
import { z } from "zod";
import { DeleteTriggerResult, Trigger, TriggerId, TriggerList, TriggerSpec } from "../shared/schemas/trigger.js";
import { parseJson, readBody } from "./http-body.js";
import { NoQuery } from "./http-params.js";
import { route, type Route } from "./http-routes.js";
import type { TriggersService } from "./triggers-service.js";

const IdParams = z.object({ id: TriggerId.describe("the trigger's id") });
/** A trigger body is a few fields and an optional schedule event. */
const TRIGGER_BODY_BYTES = 64 * 1024;

export function triggersRoutes(triggers: TriggersService): Route[] {
  return [
    route({
      method: "GET", path: "/v1/triggers", operationId: "listTriggers", tag: "triggers", params: NoQuery, query: NoQuery,
      summary: "Every trigger, with its state and counters",
      responses: { 200: { description: "the triggers", schema: TriggerList } },
      errors: ["UNAVAILABLE"],
      handle: async () => ({ status: 200, body: { triggers: await triggers.list() } }),
    }),
    route({
      method: "PUT", path: "/v1/triggers/{id}", operationId: "putTrigger", tag: "triggers", params: IdParams, query: NoQuery,
      summary: "Create or replace a trigger: a NATS subject, a JetStream stream or a schedule that invokes a function",
      description:
        "Exactly one of subject, stream or schedule. The function must exist; a trigger names a version or an alias (default: the latest). " +
        "A stream trigger's durable consumer is created on the stream. A paused trigger stays paused when replaced.",
      body: { description: "the trigger", schema: TriggerSpec, maxBytes: TRIGGER_BODY_BYTES, example: { function: "hello", subject: "orders.*.created" } },
      responses: { 201: { description: "created", schema: Trigger }, 200: { description: "replaced", schema: Trigger } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "UNAVAILABLE"],
      handle: async ({ params, req }) => {
        const body = parseJson(await readBody(req, TRIGGER_BODY_BYTES, "body"), "body");
        const { trigger, created } = await triggers.put(params.id, body);
        return { status: created ? 201 : 200, body: trigger };
      },
    }),
    route({
      method: "GET", path: "/v1/triggers/{id}", operationId: "getTrigger", tag: "triggers", params: IdParams, query: NoQuery,
      summary: "A trigger, with its state (active, paused, disabled) and counters (delivered, failed, lag)",
      responses: { 200: { description: "the trigger", schema: Trigger } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await triggers.get(params.id) }),
    }),
    route({
      method: "DELETE", path: "/v1/triggers/{id}", operationId: "deleteTrigger", tag: "triggers", params: IdParams, query: NoQuery,
      summary: "Delete a trigger (a stream trigger's consumer too)",
      responses: { 200: { description: "deleted", schema: DeleteTriggerResult } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await triggers.delete(params.id) }),
    }),
    route({
      method: "POST", path: "/v1/triggers/{id}/pause", operationId: "pauseTrigger", tag: "triggers", params: IdParams, query: NoQuery,
      summary: "Pause a trigger: it invokes nothing until resumed (a stream trigger keeps its place)",
      responses: { 200: { description: "the trigger", schema: Trigger } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await triggers.pause(params.id, true) }),
    }),
    route({
      method: "POST", path: "/v1/triggers/{id}/resume", operationId: "resumeTrigger", tag: "triggers", params: IdParams, query: NoQuery,
      summary: "Resume a paused trigger",
      responses: { 200: { description: "the trigger", schema: Trigger } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await triggers.pause(params.id, false) }),
    }),
  ];
}
