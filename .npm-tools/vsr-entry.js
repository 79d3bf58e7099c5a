// Bundled by esbuild into dist/virtual-screen-reader.js (one IIFE the browser
// tests inject): the virtual screen reader is an ES module with dependencies.
export { virtual } from "@guidepup/virtual-screen-reader/browser.js";
