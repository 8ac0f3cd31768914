// A version's build as the CLI shows it (`weft deploy` while it builds, `weft logs --build`): the API's
// `build` field, polled until it is no longer `building` (the API offers no stream of a build; a poll a second is cheap).
import { setTimeout as sleep } from "node:timers/promises";
import type { ApiClient } from "./api-client.js";

export interface Build {
  status: "building" | "ready" | "failed";
  layer?: string;
  durationMs?: number;
  cached?: boolean;
  layerBytes?: number;
  error?: string;
}

export interface BuildReport {
  name: string;
  version: number;
  build: Build;
  log: string;
}

const functionPath = (name: string) => `/v1/functions/${encodeURIComponent(name)}`;

const POLL_MS = { first: 250, max: 1000 };

/** The version's build once it has ended; `onWait` is told once when it is still building. */
export async function awaitBuild(api: ApiClient, name: string, version: number, onWait: (b: Build) => void): Promise<Build> {
  let build = await buildOf(api, name, version);
  if (build.status === "building") onWait(build);
  for (let delay = POLL_MS.first; build.status === "building"; delay = Math.min(delay * 2, POLL_MS.max)) {
    await sleep(delay);
    build = await buildOf(api, name, version);
  }
  return build;
}

async function buildOf(api: ApiClient, name: string, version: number): Promise<Build> {
  const fn = await api.get<{ build?: Build }>(functionPath(name), { version });
  // A single file has no build: it is ready as soon as it is stored.
  return fn.build ?? { status: "ready" };
}

export const buildReport = (api: ApiClient, name: string, version: number): Promise<BuildReport> =>
  api.get<BuildReport>(`${functionPath(name)}/versions/${version}/build`);

/** "built in 5.9s, layer nodejs20-… 1.3 MiB (shared, already built)". */
export function describeBuild(b: Build): string {
  const took = b.durationMs === undefined ? "" : ` in ${(b.durationMs / 1000).toFixed(1)}s`;
  const parts = [`${b.status === "ready" ? "built" : "build failed"}${took}`];
  if (b.layer) parts.push(`layer ${b.layer}${b.layerBytes === undefined ? "" : ` ${(b.layerBytes / 2 ** 20).toFixed(1)} MiB`}${b.cached ? " (shared, already built)" : ""}`);
  return parts.join(", ");
}
