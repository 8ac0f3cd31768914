// Prints the configuration table of README.md from the components' own field lists, so the docs cannot drift:
//   node --import tsx deploy/config-table.ts
// test/unit/readme.test.ts checks README names every variable printed here.
import { commonFields, type EnvField } from "../shared/config.js";
import { gatewayFields } from "../gateway/config.js";
import { controllerFields } from "../controller/config.js";
import { agentFields } from "../agents/config.js";
import { upFields } from "./up-config.js";
import type { z } from "zod";

type Fields = Record<string, EnvField<z.ZodType>>;

export const CONFIG_SECTIONS: Array<[string, Fields]> = [
  ["every component", commonFields],
  ["gateway", gatewayFields],
  ["controller", controllerFields],
  ["agent", agentFields],
  ["npm run up", upFields],
];

/** Defaults computed at start-up, described rather than printed as this machine's value. */
const DYNAMIC_DEFAULTS: Record<string, string> = {
  WEFT_AGENT_ID: "host name",
  WEFT_GATEWAY_ID: "random",
  WEFT_SECCOMP_PROFILE: "`deploy/seccomp/weft.json` of the checkout",
  WEFT_UP_STATE_DIR: "`WEFT_STATE_DIR` of `.weft/env`",
  WEFT_BUILD_DIR: "`$WEFT_STATE_DIR/builds`, else `~/.weft/builds`",
  WEFT_PIP_INDEX_URL: "none",
  WEFT_PIP_EXTRA_INDEX_URL: "none",
  WEFT_NPM_REGISTRY: "none",
  WEFT_BUILD_HTTP_PROXY: "none",
  WEFT_BUILD_HTTPS_PROXY: "none",
  WEFT_BUILD_NO_PROXY: "none",
};

const DYNAMIC_BY_TEXT = Object.fromEntries(Object.values(DYNAMIC_DEFAULTS).map((d) => [d, true]));

function defaultOf(field: EnvField<z.ZodType>): string {
  const dynamic = DYNAMIC_DEFAULTS[field.env];
  if (dynamic) return dynamic;
  const parsed = field.schema.safeParse(undefined);
  if (!parsed.success) return "(required)";
  return Array.isArray(parsed.data) ? parsed.data.join(",") : String(parsed.data);
}

export function configTable(): string {
  const rows = ["| variable | component | default | meaning |", "| --- | --- | --- | --- |"];
  const seen = new Set<string>();
  for (const [section, fields] of CONFIG_SECTIONS) {
    for (const field of Object.values(fields)) {
      if (seen.has(field.env)) continue;
      seen.add(field.env);
      const def = defaultOf(field);
      rows.push(`| \`${field.env}\` | ${section} | ${def in DYNAMIC_BY_TEXT ? def : `\`${def}\``} | ${field.doc} |`);
    }
  }
  return rows.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(configTable());
