// Exposes the workspace API on window for selenium (execute_async_script)
// and logs workspace events in #log, so a screenshot shows what happened.

import * as protocol from "./protocol.mjs";
import { getWorkspace, listWorkspaces, openWorkspace } from "./workspace.mjs";

const log = document.getElementById("log");

// Every Worker this page starts, so a test can terminate one from outside
// (as the browser or another script could) and see whether anyone notices.
const NativeWorker = window.Worker;
window.startedWorkers = [];
window.Worker = class extends NativeWorker {
  constructor(...args) {
    super(...args);
    window.startedWorkers.push(this);
  }
};

/** @param {string} line */
function show(line) {
  log.textContent += `${new Date().toISOString().slice(11, 23)} ${line}\n`;
}

/** openWorkspace, with the workspace's events written to the page. */
async function openLogged(name, options) {
  const workspace = await openWorkspace(name, options);
  workspace.addEventListener("crash", (e) => show(`[${name}] crash: ${e.detail.error.message}`));
  workspace.addEventListener("restart", () => show(`[${name}] restarted (generation ${workspace.generation})`));
  workspace.addEventListener("close", () => show(`[${name}] closed`));
  show(`[${name}] ready: kuzu ${workspace.version}, wasm memory ${workspace.memoryBytes} bytes`);
  return workspace;
}

Object.assign(window, { openWorkspace: openLogged, getWorkspace, listWorkspaces, protocol, showLine: show });
document.body.dataset.ready = "yes";
