// GET /v1/agents and GET /v1/agents/{id}: the agents this gateway has heard from (their heartbeats), with
// slots, memory and containers per runtime × isolation. An agent silent for WEFT_AGENT_SEEN_MS drops out.
import { notFound } from "../shared/errors.js";
import { AgentIdParams, AgentList, AgentView } from "../shared/schemas/agent.js";
import type { AgentRegistry } from "./agent-registry.js";
import { NoQuery } from "./http-params.js";
import { route, type Route } from "./http-routes.js";

/** When no heartbeat is fresh (a gateway just started), agents are asked to answer at once, this long. */
const PING_TIMEOUT_MS = 500;

export function agentRoutes(agents: AgentRegistry): Route[] {
  const known = async (): Promise<AgentView[]> => {
    if (agents.fresh().length === 0) await agents.ping(PING_TIMEOUT_MS);
    return agents.fresh();
  };
  return [
    route({
      method: "GET", path: "/v1/agents", operationId: "listAgents", tag: "agents", params: NoQuery, query: NoQuery,
      summary: "The live agents: slots, memory, and containers per runtime × isolation",
      description: "The agents this gateway heard from within WEFT_AGENT_SEEN_MS, most recently heard first.",
      responses: { 200: { description: "the agents", schema: AgentList } },
      errors: [],
      handle: async () => ({ status: 200, body: { agents: await known() } satisfies AgentList }),
    }),
    route({
      method: "GET", path: "/v1/agents/{id}", operationId: "getAgent", tag: "agents", params: AgentIdParams, query: NoQuery,
      summary: "One live agent",
      responses: { 200: { description: "the agent", schema: AgentView } },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND"],
      handle: async ({ params }) => {
        const agent = (await known()).find((a) => a.agentId === params.id);
        if (!agent) throw notFound(`agent ${params.id}`);
        return { status: 200, body: agent };
      },
    }),
  ];
}
