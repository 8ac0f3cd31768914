// TypeScript to the JavaScript the Node runtime loads, at deploy (the controller) and for ad-hoc code (the gateway).
// esbuild strips the types without checking them, in milliseconds: a deploy must not wait for a type checker, and
// a type error is the author's editor's business, not a reason to refuse code that runs.
import { transform, type Message, type TransformFailure } from "esbuild";

/** The name the code has in error messages and in stack traces (the worker loads the output as /tmp/handler.js). */
export const TYPESCRIPT_FILE = "handler.ts";

export type Transpiled = { ok: true; code: string } | { ok: false; file: string; line: number; column: number; message: string };

/**
 * CommonJS out, whatever the source uses: the worker loads a CommonJS module, and esbuild turns `export` and
 * `import` into `exports` and `require`. The inline source map lets Node (source maps enabled by the worker)
 * name handler.ts's lines in a stack; it leaves out the source itself, which the stack does not need.
 */
export async function transpileTypeScript(source: string): Promise<Transpiled> {
  try {
    const out = await transform(source, {
      loader: "ts",
      format: "cjs",
      target: "node20",
      platform: "node",
      sourcemap: "inline",
      sourcesContent: false,
      sourcefile: TYPESCRIPT_FILE,
      logLevel: "silent",
    });
    return { ok: true, code: out.code };
  } catch (err) {
    const first = (err as Partial<TransformFailure>).errors?.[0];
    if (!first) throw err;
    return located(first);
  }
}

/** esbuild's columns count from 0; people and editors count from 1. */
function located(m: Message): Transpiled {
  return {
    ok: false,
    file: m.location?.file || TYPESCRIPT_FILE,
    line: m.location?.line ?? 1,
    column: (m.location?.column ?? 0) + 1,
    message: m.text,
  };
}

/** "handler.ts:3:14: Expected ";" but found "x"". */
export const describeTranspileError = (t: Extract<Transpiled, { ok: false }>): string => `${t.file}:${t.line}:${t.column}: ${t.message}`;
