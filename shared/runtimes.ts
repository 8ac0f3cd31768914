// The runtimes a function can name, what each one is, and how a moving alias resolves. A version records the
// exact runtime it was built for (resolved when it is deployed), so changing what an alias means never changes a
// version that already exists.

/** Exact runtimes: what a stored version records. */
export const RUNTIMES = ["python3.11", "python3.13", "nodejs18", "nodejs20", "typescript", "rust"] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Moving aliases: `python3` and `nodejs` mean the newest version. */
export const RUNTIME_ALIASES = { python3: "python3.13", nodejs: "nodejs20" } as const satisfies Record<string, Runtime>;
export type RuntimeAlias = keyof typeof RUNTIME_ALIASES;

/** Every name a client may send (an exact runtime or an alias). */
export const RUNTIME_NAMES = [...RUNTIMES, ...(Object.keys(RUNTIME_ALIASES) as RuntimeAlias[])] as const;
export type RuntimeName = Runtime | RuntimeAlias;

/**
 * The runtimes an image exists for: each is an interpreter on a Debian base. TypeScript is transpiled at deploy
 * and runs on Node 20; the exact runtime `typescript` always means that, so its versions never move either. The
 * `rust` image is Debian 13 and the runner only: a rust function's worker is its own compiled binary (its layer).
 */
export const IMAGE_RUNTIMES = ["python3.11", "python3.13", "nodejs18", "nodejs20", "rust"] as const;
export type ImageRuntime = (typeof IMAGE_RUNTIMES)[number];

export type Language = "python" | "javascript" | "typescript" | "rust";

interface RuntimeInfo {
  image: ImageRuntime;
  language: Language;
  /** The interpreter's (rust: the compiler's) version as built (Debian's package); `weft` reports it, a test checks it. */
  version: string;
  /** The Debian suite its image is built from. */
  debian: "bookworm" | "trixie";
}

export const RUNTIME_INFO: Record<Runtime, RuntimeInfo> = {
  "python3.11": { image: "python3.11", language: "python", version: "3.11", debian: "bookworm" },
  "python3.13": { image: "python3.13", language: "python", version: "3.13", debian: "trixie" },
  nodejs18: { image: "nodejs18", language: "javascript", version: "18", debian: "bookworm" },
  nodejs20: { image: "nodejs20", language: "javascript", version: "20", debian: "trixie" },
  typescript: { image: "nodejs20", language: "typescript", version: "20", debian: "trixie" },
  rust: { image: "rust", language: "rust", version: "1.85", debian: "trixie" },
};

/**
 * Runtimes whose function is compiled at build into its own worker: a container has nothing to run before a version
 * is mounted into it, so they get no stem cells and no ad-hoc execution.
 */
export const COMPILED_RUNTIMES: readonly Runtime[] = ["rust"];
export const isCompiled = (runtime: string): boolean => (COMPILED_RUNTIMES as readonly string[]).includes(runtime);

/**
 * Versions stored before runtimes had versions name `python3` or `nodejs`: they were built for Debian 12's
 * Python 3.11 and Node 18, and keep them.
 */
const LEGACY_RUNTIMES: Record<RuntimeAlias, Runtime> = { python3: "python3.11", nodejs: "nodejs18" };

const isAlias = (name: string): name is RuntimeAlias => Object.hasOwn(RUNTIME_ALIASES, name);

/** The exact runtime a name means today (at deploy). */
export function resolveRuntime(name: RuntimeName): Runtime {
  return isAlias(name) ? RUNTIME_ALIASES[name] : name;
}

/** The exact runtime a stored version recorded; a version stored with an alias predates them (see LEGACY_RUNTIMES). */
export function storedRuntime(name: unknown): unknown {
  return typeof name === "string" && isAlias(name) ? LEGACY_RUNTIMES[name] : name;
}

export const imageRuntimeOf = (runtime: Runtime): ImageRuntime => RUNTIME_INFO[runtime].image;
export const languageOf = (runtime: Runtime): Language => RUNTIME_INFO[runtime].language;

/** The runtime name a file's extension means (`weft deploy handler.ts` → typescript); the gateway resolves it. */
export const RUNTIME_BY_EXTENSION: Readonly<Record<string, RuntimeName>> = {
  ".py": "python3", ".js": "nodejs", ".cjs": "nodejs", ".mjs": "nodejs", ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
};

/** A runtime as one NATS subject token: subjects split on dots, and `python3.13` has one. */
export const runtimeToken = (runtime: string): string => runtime.replaceAll(".", "_");
