// The agents the gateway hears from, live: slots, memory, and containers per runtime × isolation (warm idle,
// busy, starting, stem cells).
import { api, type AgentView } from "../api.js";
import { useData } from "../data.js";
import { ago, duration } from "../format.js";

const REFRESH_MS = 2000;

export function AgentsPage() {
  const agents = useData((s) => api.agents(s), [], { everyMs: REFRESH_MS });
  const list = agents.data?.agents ?? [];
  return (
    <>
      <div class="page-head">
        <h1>Agents</h1>
        <p class="muted small" role="status">
          {agents.data ? `${list.length} live agent${list.length === 1 ? "" : "s"}; refreshed every ${REFRESH_MS / 1000} s` : "Loading…"}
        </p>
      </div>
      {agents.error && (
        <p class="error-text" role="alert">
          <code>{agents.error.code}</code> {agents.error.message}
        </p>
      )}
      <section class="card flush">
        <div class="table-wrap">
          <table aria-label="Agents">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Host</th>
                <th scope="col">State</th>
                <th scope="col" class="num">Busy slots</th>
                <th scope="col" class="num">Memory (MB)</th>
                <th scope="col" class="num">Containers</th>
                <th scope="col" class="num">Stem cells</th>
                <th scope="col">Up for</th>
                <th scope="col">Last heard</th>
              </tr>
            </thead>
            <tbody>
              {agents.data && list.length === 0 && (
                <tr>
                  <td colSpan={9} class="muted empty">
                    No agent has sent a heartbeat recently: invocations wait in the queue until one does.
                  </td>
                </tr>
              )}
              {list.map((a) => (
                <AgentRow a={a} key={a.agentId} />
              ))}
            </tbody>
          </table>
        </div>
      </section>
      {list.map((a) => (
        <Pools a={a} key={a.agentId} />
      ))}
    </>
  );
}

function AgentRow({ a }: { a: AgentView }) {
  const used = a.slots ? a.busy / a.slots : 0;
  return (
    <tr>
      <th scope="row" class="mono">
        {a.agentId}
      </th>
      <td>{a.host}</td>
      <td>
        <span class={`badge state-${a.state}`}>{a.state}</span>
      </td>
      <td class="num">
        <meter min={0} max={a.slots} value={a.busy} aria-label={`${a.busy} of ${a.slots} slots busy`} class={used > 0.8 ? "hot" : ""} /> {a.busy} / {a.slots}
      </td>
      <td class="num">{a.memoryMb ? `${Math.round(a.memoryMb.used)} / ${Math.round(a.memoryMb.total)}` : "—"}</td>
      <td class="num">{a.containers}</td>
      <td class="num">{a.stemCells}</td>
      <td>{a.startedAt ? duration(Date.now() - a.startedAt) : "—"}</td>
      <td>{ago(Date.now() - a.lastSeenMs)}</td>
    </tr>
  );
}

function Pools({ a }: { a: AgentView }) {
  if (!a.pools) return null;
  return (
    <section class="card flush" aria-label={`Containers on ${a.agentId}`}>
      <h2 class="pad">Containers on {a.agentId}</h2>
      <div class="table-wrap">
        <table aria-label={`Pools of ${a.agentId}`}>
          <thead>
            <tr>
              <th scope="col">Runtime</th>
              <th scope="col">Isolation</th>
              <th scope="col" class="num">Warm idle</th>
              <th scope="col" class="num">Busy</th>
              <th scope="col" class="num">Starting</th>
              <th scope="col" class="num">Stem cells</th>
            </tr>
          </thead>
          <tbody>
            {a.pools.length === 0 && (
              <tr>
                <td colSpan={6} class="muted empty">
                  No containers.
                </td>
              </tr>
            )}
            {a.pools.map((p) => (
              <tr key={`${p.runtime}/${p.isolation}`}>
                <td>{p.runtime}</td>
                <td>{p.isolation}</td>
                <td class="num">{p.idle}</td>
                <td class="num">{p.busy}</td>
                <td class="num">{p.starting}</td>
                <td class="num">{p.stemCells}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
