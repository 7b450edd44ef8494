// One kuzu-wasm workspace: a module Worker owning one in-memory Kuzu database.
//
// kuzu-wasm's sync build is a per-realm singleton (one WebAssembly module, one
// memory), so one Worker per workspace gives each workspace its own memory and
// its own fate. It is imported dynamically, after the error listeners below:
// a static import would be evaluated before this module's body.
//
// Started by web/js/workspace.mjs; speaks web/js/protocol.mjs.

import {
  CLOSE,
  DEFAULT_BUFFER_POOL_BYTES,
  EXECUTE,
  KUZU_ERROR,
  MEMORY,
  OPEN,
  PING,
  PROTOCOL_ERROR,
  QUERY,
  TRAP,
  WORKSPACE_CLOSED,
  WORKSPACE_CRASHED,
  errorReply,
  namedError,
  okReply,
  toJson,
  validateRequest,
} from "./protocol.mjs";

/** @type {any} the kuzu-wasm sync module, once loaded */
let kuzu = null;
/** @type {any} */
let database = null;
/** @type {any} */
let connection = null;
let workspaceName = "?";
let closed = false;
let faultInjection = false;
/** @type {Error | null} set once the module trapped: its memory may be corrupt, refuse all work */
let crash = null;

// Listeners first. Whatever escapes a request handler leaves this worker in an
// unknown state, so it is reported as a crash (id: null) and the page
// terminates us; preventDefault keeps it from being reported twice.
self.addEventListener("error", (event) => {
  markCrashed(event.error ?? new Error(event.message || "uncaught error in workspace worker"));
  self.postMessage(errorReply(null, crash, memoryBytes()));
  event.preventDefault();
});
self.addEventListener("unhandledrejection", (event) => {
  markCrashed(event.reason);
  self.postMessage(errorReply(null, crash, memoryBytes()));
  event.preventDefault();
});

// Requests run one at a time, in arrival order (OPEN is asynchronous; the
// calls queued behind it must wait for the database).
// PING is answered at once: it proves the thread is alive, not that the queue is empty.
let queue = Promise.resolve();
self.addEventListener("message", (event) => {
  const m = /** @type {any} */ (event.data);
  if (m && m.type === PING && Number.isInteger(m.id)) {
    self.postMessage(okReply(m.id, { memoryBytes: memoryBytes() }, memoryBytes()));
    return;
  }
  queue = queue.then(() => answer(event.data));
});

/** @returns {number | null} */
function memoryBytes() {
  try {
    return kuzu ? kuzu.getWasmMemory().buffer.byteLength : null;
  } catch {
    return null;
  }
}

/** @param {unknown} cause */
function markCrashed(cause) {
  if (crash) return;
  const c = /** @type {any} */ (cause);
  const detail = c && c.message ? `${c.name || "Error"}: ${c.message}` : String(cause);
  crash = namedError(WORKSPACE_CRASHED, `workspace ${JSON.stringify(workspaceName)} crashed: ${detail}`, {
    crashed: true,
    kind: (c && c.name) || "Error",
    workspace: workspaceName,
  });
  crash.stack = (c && c.stack) || crash.stack;
}

/** A trap or an Emscripten abort (also a RuntimeError): the module is unusable. */
function isTrap(error) {
  return error instanceof WebAssembly.RuntimeError;
}

/** @param {unknown} message */
async function answer(message) {
  const id = message && Number.isInteger(/** @type {any} */ (message).id) ? /** @type {any} */ (message).id : null;
  try {
    if (crash) throw crash;
    const { type, data } = validateRequest(message);
    self.postMessage(okReply(id, await dispatch(type, data), memoryBytes()));
  } catch (error) {
    if (isTrap(error)) markCrashed(error);
    self.postMessage(errorReply(id, isTrap(error) ? crash : error, memoryBytes()));
  }
}

/**
 * @param {string} type
 * @param {any} data
 */
async function dispatch(type, data) {
  if (type === OPEN) return open(data);
  if (closed) throw namedError(WORKSPACE_CLOSED, `workspace ${JSON.stringify(workspaceName)} is closed`);
  if (type === MEMORY) {
    const heap = /** @type {any} */ (self.performance)?.memory;
    return { wasmBytes: memoryBytes(), jsHeapBytes: heap ? heap.usedJSHeapSize : null };
  }
  if (!connection) throw namedError(PROTOCOL_ERROR, `${type} before ${OPEN}`, { type });
  if (type === EXECUTE) return toJson(run(data.cypher));
  if (type === QUERY) {
    const results = run(data.cypher);
    return toJson(results[results.length - 1]);
  }
  if (type === CLOSE) return close();
  if (type === TRAP) return injectFault(data);
  // validateRequest knows every type; this is a guard for a new one added there only.
  throw namedError(PROTOCOL_ERROR, `no handler for message type ${JSON.stringify(type)}`, { type });
}

/** @param {{name?: string, bufferPoolBytes?: number, kuzuUrl?: string}} data */
async function open(data) {
  if (database || closed) throw namedError(PROTOCOL_ERROR, `${OPEN} sent twice`, { type: OPEN });
  workspaceName = String(data.name ?? "?");
  faultInjection = data.faultInjection === true;
  const bufferPoolBytes = data.bufferPoolBytes ?? DEFAULT_BUFFER_POOL_BYTES;
  // build/site/web/js/ -> build/site/kuzu-wasm/ (see build.sh).
  const url = new URL(data.kuzuUrl ?? "../../kuzu-wasm/sync/index.js", import.meta.url);
  kuzu = (await import(url.href)).default;
  await kuzu.init();
  database = new kuzu.Database(":memory:", bufferPoolBytes);
  connection = new kuzu.Connection(database);
  return { version: kuzu.getVersion(), bufferPoolBytes };
}

/**
 * Runs one or more statements; Kuzu runs them in order, each committing on
 * its own, and stops at the first failure (a parser error stops all of them).
 * @param {string} cypher
 * @returns {object[][]} the rows (as objects) of each statement
 */
function run(cypher) {
  const result = connection.query(cypher);
  try {
    const rows = [];
    for (let current = result, statement = 0; ; statement += 1) {
      if (!current.isSuccess()) throw kuzuError(current.getErrorMessage(), statement);
      rows.push(current.getAllObjects());
      if (!current.hasNextQueryResult()) break;
      current = current.getNextQueryResult(); // owned by `result`, freed with it
    }
    return rows;
  } finally {
    result.close();
  }
}

/**
 * @param {string} message e.g. "Binder exception: Table A does not exist."
 * @param {number} statement index of the failed statement
 */
function kuzuError(message, statement) {
  const match = /^([A-Za-z]+) exception:/.exec(message);
  return namedError(KUZU_ERROR, message, { kind: match ? match[1] : "Unknown", statement });
}

function close() {
  closed = true;
  connection?.close();
  database?.close();
  connection = database = null;
  return null;
}

/**
 * Test-only faults. kuzu-wasm 0.11.3 did not trap on any Cypher we tried in
 * Chromium (referenced DROP TABLE, a full buffer pool, 4 GiB of memory all
 * come back as Kuzu errors), so the crash path is exercised with a real
 * trap: kuzu's own Connection::query run on a native pointer past the end of
 * the WebAssembly memory ("memory access out of bounds").
 * @param {{mode?: string}} data
 */
function injectFault(data) {
  if (!faultInjection) throw namedError(PROTOCOL_ERROR, `${TRAP} needs ${OPEN} with faultInjection: true`, { type: TRAP });
  const mode = data.mode ?? "wasm";
  if (mode === "uncaught") {
    setTimeout(() => {
      throw new Error("injected uncaught error");
    });
    return null;
  }
  if (mode === "hang") {
    // A stuck thread: no reply, no PING answered, nothing posted.
    const until = data.ms == null ? Infinity : performance.now() + Number(data.ms);
    while (performance.now() < until) {
      /* busy */
    }
    return null;
  }
  if (mode === "wasm") {
    connection._connection.$$.ptr = 0xfffffff0; // embind's handle to the C++ object
    connection.query("RETURN 1");
    throw new Error("the injected out-of-bounds access did not trap");
  }
  throw namedError(PROTOCOL_ERROR, `unknown fault mode ${JSON.stringify(mode)}`, { type: TRAP });
}
