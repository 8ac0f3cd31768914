// Deploy-time syntax checks: code that cannot parse is refused with a line number; valid code never is.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { pino } from "pino";
import { SyntaxChecker } from "../../controller/syntax-check.js";

const log = pino({ level: "silent" });
const checker = new SyntaxChecker({ pythonBin: process.env.WEFT_PYTHON_BIN ?? "python3" }, log);
const hasPython = spawnSync(process.env.WEFT_PYTHON_BIN ?? "python3", ["-c", "pass"]).status === 0;
/** The interpreter's minor version (3.x), or 0 without one. */
const pythonMinor = Number(spawnSync(process.env.WEFT_PYTHON_BIN ?? "python3", ["-c", "import sys; print(sys.version_info[1])"]).stdout?.toString() || 0);

describe("nodejs", () => {
  test("the contract's example parses", async () => {
    assert.equal(await checker.check("nodejs20", "exports.handler = async (event) => ({ hello: event.name })"), null);
  });

  test("CommonJS features parse: require, module.exports, a top-level return", async () => {
    const code = `const os = require("os");\nmodule.exports.handler = () => os.EOL;\nif (false) return;\n`;
    assert.equal(await checker.check("nodejs20", code), null);
  });

  test("an ES module is left to the runtime to accept", async () => {
    assert.equal(await checker.check("nodejs20", "export async function handler(e) { return e }\n"), null);
  });

  test("a syntax error is refused with its line", async () => {
    const problem = await checker.check("nodejs20", "// one\n// two\nexports.handler = async (event => 1\n");
    assert.match(problem ?? "", /^line 3: /);
  });

  test("a broken ES module reports the module's own error", async () => {
    const problem = await checker.check("nodejs20", "export const handler = async ( => 1\n");
    assert.match(problem ?? "", /^line 1: Unexpected token/);
  });

  test("code that closes the CommonJS wrapper early is refused", async () => {
    assert.notEqual(await checker.check("nodejs20", "}); (function() {"), null);
  });
});

describe("python3", { skip: !hasPython && "python3 is not installed here" }, () => {
  test("the contract's example parses", async () => {
    assert.equal(await checker.check("python3.11", 'def handler(event, context):\n    return {"hello": event["name"]}\n'), null);
  });

  test("a syntax error is refused with its line", async () => {
    const problem = await checker.check("python3.11", "import json\n\ndef handler(event, context:\n    return 1\n");
    assert.match(problem ?? "", /^line 3: /);
  });

  test("an indentation error is refused", async () => {
    assert.notEqual(await checker.check("python3.11", "def handler(event, context):\nreturn 1\n"), null);
  });

  // PEP 695 (Python 3.12): valid for python3.13, a syntax error for python3.11.
  const TYPE_ALIAS = "type Pair = tuple[int, int]\n\ndef handler(event, context):\n    return 1\n";

  test("code is parsed as the runtime's Python: 3.12 syntax is refused for python3.11", async () => {
    assert.match((await checker.check("python3.11", TYPE_ALIAS)) ?? "", /^line 1: /);
  });

  test("python3.13 code is parsed as 3.13, or by an older interpreter that refuses only what no Python parses", async () => {
    assert.equal(await checker.check("python3.13", TYPE_ALIAS), null, `interpreter 3.${pythonMinor}`);
    assert.equal(await checker.check("python3.13", "def first[T](xs: list[T]) -> T:\n    return xs[0]\n"), null);
    assert.match((await checker.check("python3.13", "def handler(:\n")) ?? "", /^line 1: /);
    assert.match((await checker.check("python3.13", "def handler(e, c):\n    return {\n")) ?? "", /^line 2: /);
  });

  test("non-ASCII source parses", async () => {
    assert.equal(await checker.check("python3.11", 'def handler(event, context):\n    return "héllo ✓"\n'), null);
  });
});

test("without a Python interpreter the check is skipped, not failed", async () => {
  const none = new SyntaxChecker({ pythonBin: "/nonexistent/python3" }, log);
  assert.equal(await none.check("python3.11", "def broken(:\n"), null);
  assert.equal(await none.check("python3.11", "def broken(:\n"), null, "and stays skipped");
});
