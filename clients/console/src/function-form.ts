// A function's settings as the forms edit them (strings, as inputs hold them), and the spec they become.
// Nothing is checked here beyond what the request needs: the API checks the rest and names the field.
import type { FunctionDefinition, FunctionSpecInput } from "./api.js";
import { TEMPLATES, type Isolation, type Runtime } from "./templates.js";

export interface EnvRow {
  key: string;
  value: string;
}

export interface FunctionForm {
  name: string;
  runtime: Runtime;
  isolation: Isolation;
  code: string;
  timeoutMs: string;
  memoryMb: string;
  cpus: string;
  concurrency: string;
  minWarm: string;
  description: string;
  env: EnvRow[];
}

export function newForm(runtime: Runtime = "python3"): FunctionForm {
  return {
    name: "",
    runtime,
    isolation: "runc",
    code: TEMPLATES[runtime],
    timeoutMs: "30000",
    memoryMb: "256",
    cpus: "",
    concurrency: "1",
    minWarm: "0",
    description: "",
    env: [],
  };
}

export function formOf(def: FunctionDefinition): FunctionForm {
  return {
    name: def.name,
    runtime: def.runtime,
    isolation: def.isolation,
    code: def.code,
    timeoutMs: String(def.limits.timeoutMs),
    memoryMb: String(def.limits.memoryMb),
    cpus: def.limits.cpus === undefined ? "" : String(def.limits.cpus),
    concurrency: String(def.concurrency),
    minWarm: String(def.minWarm),
    description: def.description ?? "",
    env: Object.entries(def.env).map(([key, value]) => ({ key, value })),
  };
}

/** A number as typed; what is not a number goes as typed, so the API's error names the field. */
const num = (s: string): number | string => (s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : s);

export function specOf(f: FunctionForm): FunctionSpecInput {
  const limits: Record<string, number | string> = { timeoutMs: num(f.timeoutMs), memoryMb: num(f.memoryMb) };
  if (f.cpus.trim() !== "") limits.cpus = num(f.cpus);
  const env: Record<string, string> = {};
  for (const row of f.env) if (row.key.trim() !== "" || row.value !== "") env[row.key.trim()] = row.value;
  const spec = {
    runtime: f.runtime,
    isolation: f.isolation,
    code: f.code,
    limits,
    env,
    concurrency: num(f.concurrency),
    minWarm: num(f.minWarm),
    ...(f.description.trim() ? { description: f.description } : {}),
  };
  // Typed input goes to the API as entered; its answer is the validation.
  return spec as unknown as FunctionSpecInput;
}

/** True when the form would deploy something other than `def`. */
export function differs(f: FunctionForm, def: FunctionDefinition): boolean {
  return JSON.stringify(specOf(f)) !== JSON.stringify(specOf(formOf(def)));
}

/** When the runtime changes and the code is still a template, the other runtime's template replaces it. */
export function switchRuntime(f: FunctionForm, runtime: Runtime): FunctionForm {
  const untouched = Object.values(TEMPLATES).includes(f.code) || f.code.trim() === "";
  return { ...f, runtime, code: untouched ? TEMPLATES[runtime] : f.code };
}
