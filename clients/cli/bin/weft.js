#!/usr/bin/env node
// The `weft` command. The CLI is TypeScript like the rest of Weft; tsx's loader runs it without a build step,
// so `npx weft` works in a checkout and `npm i -g` from the repository installs the same thing.
import { register } from "tsx/esm/api";

register();
await import("../main.ts");
