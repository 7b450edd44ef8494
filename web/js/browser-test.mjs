// Test page hooks: starts Pyodide with our package (python.mjs) and exposes
//   window.runPy(code) -> Promise: the value of the last expression (strings,
//     numbers, booleans; return JSON for anything else). Calls are queued:
//     one Python entry at a time, because a JSPI-suspended call (run_sync
//     waiting for IndexedDB or a worker) would otherwise let a second entry run
//     in the middle of the first one's state changes.
//   window.openLiveSync (web/js/live-sync.mjs), window.showLine(text),
//   window.showState({hash, position, tables}).
// body[data-ready] is "yes" when Python is ready, "error" if it failed.

import { openLiveSync } from "./live-sync.mjs";
import { startPython } from "./python.mjs";

const log = document.getElementById("log");

/** @param {string} line */
function showLine(line) {
  log.textContent += `${new Date().toISOString().slice(11, 23)} ${line}\n`;
}

/** @param {{hash: string, position: number, tables: string[]}} state */
function showState(state) {
  document.getElementById("hash").textContent = state.hash;
  document.getElementById("position").textContent = String(state.position);
  document.getElementById("tables").textContent = state.tables.join(", ");
  document.body.dataset.hash = state.hash;
}

let queue = Promise.resolve();

try {
  const { pyodide, version, seconds } = await startPython({ onStatus: showLine });
  /** @param {string} code */
  const runPy = (code) => {
    const run = queue.then(() => pyodide.runPythonAsync(code));
    queue = run.catch(() => {});
    return run.then((value) => (value && typeof value.toJs === "function" ? value.toJs() : value));
  };
  Object.assign(window, { pyodide, runPy, openLiveSync, showLine, showState });
  showLine(`kuzu-schemalog ${version} ready in ${seconds.toFixed(2)} s`);
  document.body.dataset.pythonSeconds = seconds.toFixed(3);
  document.body.dataset.ready = "yes";
} catch (error) {
  document.getElementById("error").textContent = `${error.name}: ${error.message}`;
  document.body.dataset.ready = "error";
}
