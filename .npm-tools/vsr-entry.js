// Bundled by esbuild into dist/virtual-screen-reader.js, one script the
// browser tests inject (tests/e2e/a11y.py). The reader is an ES module; an
// injected init script runs inside a function, so the global is set by hand.
import { virtual } from "@guidepup/virtual-screen-reader/browser.js";

globalThis.SpoolVSR = { virtual };
