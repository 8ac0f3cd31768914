// The runtimes the console offers and the code a new function starts with, per runtime's language.
import type { RuntimeName } from "../../../shared/runtimes.js";

/** The moving names first (python3, nodejs: the newest), then the exact versions a function records. */
export const RUNTIMES = ["python3", "nodejs", "typescript", "python3.13", "python3.11", "nodejs20", "nodejs18", "rust"] as const satisfies readonly RuntimeName[];
export const ISOLATIONS = ["runc", "gvisor"] as const;
export type Runtime = (typeof RUNTIMES)[number];
export type Isolation = (typeof ISOLATIONS)[number];
export type Language = "python" | "javascript" | "typescript";

// Rust is shown with the JavaScript mode (C-like enough to read); the console has no Rust grammar.
export const languageOf = (r: Runtime): Language => (r.startsWith("python") ? "python" : r === "typescript" ? "typescript" : "javascript");

/** A rust function is a Cargo package sent as files (the API or the CLI); the console shows its src/lib.rs. */
const RUST_TEMPLATE = `// src/lib.rs of a Cargo library package (with Cargo.toml and Cargo.lock): deploy it with files.
use serde_json::{json, Value};

pub fn handler(event: Value) -> Result<Value, String> {
    let name = event["name"].as_str().unwrap_or("world");
    Ok(json!({ "hello": name }))
}
`;

const TEMPLATE_OF: Record<Language, string> = {
  python: `def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    print("hello from", context.function_name)
    return {"hello": name}
`,
  javascript: `exports.handler = async (event, context) => {
  const name = (event && event.name) || "world";
  console.log("hello from", context.functionName);
  return { hello: name };
};
`,
  typescript: `interface Event { name?: string }

export const handler = async (event: Event, context: { functionName: string }) => {
  console.log("hello from", context.functionName);
  return { hello: event?.name ?? "world" };
};
`,
};

export const TEMPLATES = Object.fromEntries(RUNTIMES.map((r) => [r, r === "rust" ? RUST_TEMPLATE : TEMPLATE_OF[languageOf(r)]])) as Record<Runtime, string>;

export const RUNTIME_LABELS: Record<Runtime, string> = {
  python3: "Python 3 (newest)",
  nodejs: "Node.js (newest)",
  typescript: "TypeScript (Node.js 20)",
  "python3.13": "Python 3.13",
  "python3.11": "Python 3.11",
  nodejs20: "Node.js 20",
  nodejs18: "Node.js 18",
  rust: "Rust (a Cargo package, deployed as files)",
};
export const ISOLATION_LABELS: Record<Isolation, string> = { runc: "runc (containers)", gvisor: "gVisor (user-space kernel)" };
