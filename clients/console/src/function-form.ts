// A function's settings as the forms edit them (strings, as inputs hold them), and the spec they become.
// Nothing is checked here beyond what the request needs: the API checks the rest and names the field.
import type { FunctionDefinition, FunctionSpecInput } from "./api.js";
import type { BundleFile } from "../../../shared/schemas/function.js";
import { RUST_ENTRY, RUST_PACKAGE, TEMPLATES, type Isolation, type Runtime } from "./templates.js";

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
  /**
   * A bundle's files but the entry module (which `code` holds), and its handler: kept as they are, so saving from
   * the console changes the code and settings only. A new rust function gets the template's Cargo package.
   */
  files?: Record<string, BundleFile>;
  handler?: string;
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
    ...(runtime === "rust" ? { files: { ...RUST_PACKAGE } } : {}),
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
    ...bundleOf(def),
  };
}

/** A bundle's other files and its handler; nothing for code alone, or when the entry cannot be told apart. */
function bundleOf(def: FunctionDefinition): Pick<FunctionForm, "files" | "handler"> {
  if (!def.files) return {};
  const entry = entryOf(def, def.files);
  if (entry === undefined) return {};
  const { [entry]: _entry, ...files } = def.files;
  return { files, ...(def.handler ? { handler: def.handler } : {}) };
}

/** The path of the bundle file whose source is the definition's code: src/lib.rs, or the handler's module. */
function entryOf(def: FunctionDefinition, files: Record<string, BundleFile>): string | undefined {
  if (def.runtime === "rust") return RUST_ENTRY in files ? RUST_ENTRY : undefined;
  const module = (def.handler ?? "handler.handler").replace(/\.[^.]*$/, "");
  return Object.keys(files).find((p) => p.replace(/\.[^./]+$/, "") === module && textOf(files[p]!) === def.code);
}

const textOf = (f: BundleFile): string =>
  typeof f === "string" ? f : new TextDecoder().decode(Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0)));

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
    ...(f.files ? { files: f.files } : {}),
    ...(f.handler ? { handler: f.handler } : {}),
  };
  // Typed input goes to the API as entered; its answer is the validation.
  return spec as unknown as FunctionSpecInput;
}

/** True when the form would deploy something other than `def`. */
export function differs(f: FunctionForm, def: FunctionDefinition): boolean {
  return JSON.stringify(specOf(f)) !== JSON.stringify(specOf(formOf(def)));
}

/**
 * When the runtime changes and the code is still a template, the other runtime's template replaces it. Rust takes
 * the template's Cargo package when the form has no files, and gives it back when leaving rust.
 */
export function switchRuntime(f: FunctionForm, runtime: Runtime): FunctionForm {
  const untouched = Object.values(TEMPLATES).includes(f.code) || f.code.trim() === "";
  const next: FunctionForm = { ...f, runtime, code: untouched ? TEMPLATES[runtime] : f.code };
  if (runtime === "rust" && !f.files) return { ...next, files: { ...RUST_PACKAGE } };
  if (runtime !== "rust" && f.runtime === "rust" && isRustTemplatePackage(f.files)) {
    const { files: _files, handler: _handler, ...rest } = next;
    return rest;
  }
  return next;
}

const isRustTemplatePackage = (files: FunctionForm["files"]): boolean =>
  files !== undefined && JSON.stringify(Object.keys(files).sort()) === JSON.stringify(Object.keys(RUST_PACKAGE).sort()) &&
  Object.entries(RUST_PACKAGE).every(([path, text]) => files[path] === text);
