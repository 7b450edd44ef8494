// Python off the page's main thread: Pyodide, our wheel and the demo API
// (pkg/schemalog/browser/demo.py) run in this module Worker, so a long call
// (a 1,000,000-event replay) never freezes the page. The kuzu-wasm workspace
// workers are started from here (nested workers); IndexedDB, Web Locks and
// BroadcastChannel work the same in a worker.
//
// Speaks web/js/protocol.mjs: request {id, type: PY_CALL, data: {method, args}}
// -> reply {id, ok: true, result: <the demo API's JSON string>}; calls run one
// at a time (a JSPI-suspended call must not let another enter Python). News
// the page shows as it happens are unsolicited replies (id: null): start-up
// status, and a workspace worker's crash or restart.

import { PY_CALL, PY_CANCEL, PY_TERMINATE_WORKSPACE, errorReply, okReply, validateReply } from "./protocol.mjs";
import { startPython } from "./python.mjs";
import { getWorkspace } from "./workspace.mjs";

// ?faults=1: every Worker started here is recorded, so a test can terminate a
// workspace's kuzu worker from outside (PY_TERMINATE_WORKSPACE).
const faults = new URL(import.meta.url).searchParams.get("faults") === "1";
const started = [];
if (faults) {
  const Native = self.Worker;
  self.Worker = class extends Native {
    constructor(url, options) {
      super(url, options);
      started.push({ worker: this, name: options?.name ?? "" });
    }
  };
}

const news = (event, fields = {}) => self.postMessage(okReply(null, { event, ...fields }));
validateReply(okReply(null, null)); // the shapes this file posts are the protocol's

let api = null;
self.schemalogCancel = false; // read by demo.py between chunks of a long call
/** demo.py's progress news (a JSON string {event, ...}), passed on to the page. */
self.schemalogNews = (text) => {
  const { event, ...fields } = JSON.parse(text);
  news(event, fields);
};
const ready = startPython({ onStatus: (text) => news("status", { text }) }).then(({ pyodide, version, seconds }) => {
  api = pyodide.pyimport("schemalog.browser.demo");
  const python = pyodide.runPython("import sys; sys.version.split()[0]");
  news("ready", { version, seconds, python });
});
ready.catch((error) => self.postMessage(errorReply(null, error)));

const watched = new WeakSet();
function watchWorkspaces(reply) {
  let name = null;
  try {
    const parsed = JSON.parse(reply);
    name = parsed.ok && parsed.result ? parsed.result.workspace ?? null : null;
  } catch {
    return;
  }
  const workspace = name ? getWorkspace(name) : null;
  if (!workspace || watched.has(workspace)) return;
  watched.add(workspace);
  workspace.addEventListener("crash", (e) =>
    news("crash", { workspace: name, error: { name: e.detail.error.name, message: e.detail.error.message, kind: e.detail.error.kind } }),
  );
  workspace.addEventListener("restart", () => news("restart", { workspace: name, generation: workspace.generation }));
}

let queue = Promise.resolve();
self.addEventListener("message", (event) => {
  const { id, type, data } = event.data ?? {};
  if (type === PY_CANCEL) {
    self.schemalogCancel = true;
    self.postMessage(okReply(id, null));
    return;
  }
  if (type === PY_TERMINATE_WORKSPACE) {
    const mine = started.filter((w) => w.name === `kuzu-workspace:${data.workspace}`);
    if (!faults) self.postMessage(errorReply(id, new Error("start the page with ?faults=1 to inject faults")));
    else {
      mine.forEach((w) => w.worker.terminate());
      self.postMessage(okReply(id, mine.length));
    }
    return;
  }
  if (type !== PY_CALL) {
    self.postMessage(errorReply(Number.isInteger(id) ? id : null, new Error(`unknown message type ${JSON.stringify(type)}`)));
    return;
  }
  queue = queue
    .then(async () => {
      await ready;
      self.schemalogCancel = false;
      const reply = await api.call(data.method, data.args);
      watchWorkspaces(reply);
      self.postMessage(okReply(id, reply));
    })
    .catch((error) => self.postMessage(errorReply(id, error)));
});
