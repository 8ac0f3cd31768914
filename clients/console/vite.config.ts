// Vite builds the console into dist/, which the gateway serves at /. `npx vite clients/console` runs a dev
// server that sends API calls to a fabric on :8080 (npm run up).
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // The gateway compresses; reporting compressed sizes here only slows the build.
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      output: {
        // CodeMirror in one chunk of its own, loaded by the pages that edit code (never by the functions list).
        codeSplitting: { groups: [{ name: "editor", test: /node_modules[\\/](@codemirror|codemirror|@lezer|@marijn|style-mod|w3c-keyname|crelt)[\\/]/ }] },
      },
    },
  },
  server: {
    proxy: { "/v1": "http://127.0.0.1:8080", "/healthz": "http://127.0.0.1:8080" },
  },
});
