// The one protocol between the page and a kuzu-wasm workspace worker
// (web/js/kuzu-worker.mjs). Both sides import this file; nothing here touches
// kuzu, the DOM or a Worker, so it is safe to import first in the worker.
//
//   request  {id, type, data}
//   reply    {id, ok: true,  result, memoryBytes}
//            {id, ok: false, error: {name, message, stack, ...}, memoryBytes}
//
// `memoryBytes` is the worker's WebAssembly memory size after the request
// (null before kuzu-wasm is loaded), so the caller can bound a workspace: wasm
// memory only grows, and kuzu-wasm 0.11.3 aborts near 4 GiB.
// A reply with `id: null` is unsolicited: the worker reports a failure it
// could not attribute to a request (an uncaught error, a rejected promise).

/** Open the in-memory database. data: {name, bufferPoolBytes, kuzuUrl?, faultInjection?} -> {version, bufferPoolBytes} */
export const OPEN = "open";
/** One or more `;`-separated Cypher statements. data: {cypher} -> JSON string: one array of row objects per statement */
export const EXECUTE = "execute";
/** Exactly one Cypher statement. data: {cypher} -> JSON string: array of row objects */
export const QUERY = "query";
/** data: {} -> {wasmBytes, jsHeapBytes} */
export const MEMORY = "memory";
/** Close connection and database. data: {} -> null */
export const CLOSE = "close";
/** Fault injection for tests, refused unless OPEN had faultInjection: true.
 * data: {mode: "wasm"} a real WebAssembly trap inside kuzu's code;
 *       {mode: "uncaught"} an error thrown outside any request;
 *       {mode: "hang", ms} the worker's thread busy for ms (default: for ever). */
export const TRAP = "trap";
/** Liveness. data: {} -> {memoryBytes}. Answered at once, outside the request
 * queue (a worker stuck in a call, or terminated, does not answer). */
export const PING = "ping";

export const MESSAGE_TYPES = Object.freeze([OPEN, EXECUTE, QUERY, MEMORY, CLOSE, TRAP, PING]);

// The page and its Python worker (web/js/python-worker.mjs) speak the same
// request/reply shapes. PY_CALL data: {method, args} (args a JSON string) ->
// the demo API's JSON reply string. Unsolicited replies (id: null, ok: true)
// carry {event: "status" | "crash" | "restart", ...} news from the worker.
export const PY_CALL = "py-call";
/** Ask a running call to stop at its next turn (the memory replay). data: {} -> null */
export const PY_CANCEL = "py-cancel";
/** Tests only, refused unless the worker was started with ?faults=1: terminate
 * the kuzu worker of workspace data.workspace from outside (Worker.terminate(),
 * no message to anyone), as the browser may. data: {workspace} -> count */
export const PY_TERMINATE_WORKSPACE = "py-terminate-workspace";
export const PYTHON_MESSAGE_TYPES = Object.freeze([PY_CALL, PY_CANCEL, PY_TERMINATE_WORKSPACE]);

/** A call unanswered this long makes the workspace crashed (kind "Timeout"):
 * no call can hold a caller, or the page's queue behind it, forever. Kuzu DDL
 * and catalog reads answer in milliseconds; OPEN loads kuzu-wasm (seconds). */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
export const DEFAULT_OPEN_TIMEOUT_MS = 120_000;
/** The page pings an open worker this often; no message at all from it for
 * HEARTBEAT_TIMEOUT_MS while a ping is out is a crash (kind "Unresponsive"):
 * a worker terminated from outside, or stuck in a loop, is noticed within
 * seconds, not at the next action. */
export const DEFAULT_HEARTBEAT_MS = 1_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 5_000;

/** Kuzu's buffer pool per workspace; a cap, not a reservation. Measured in
 * Chromium (kuzu-wasm 0.11.3, in-memory): each node table ever created holds
 * ~1 MiB of the pool (DROP frees none), so a pool of P MiB holds P - 1 node
 * tables, the next CREATE is a KuzuError "Buffer manager exception" (not a
 * crash); each node table also grows wasm memory by ~5.25 MB outside the
 * pool; rel tables take neither. 64 MiB: 63 node tables, ~375 MB of memory. */
export const DEFAULT_BUFFER_POOL_BYTES = 64 * 1024 * 1024;

// Error names that cross the boundary. Anything else keeps its own name.
/** The worker trapped (WebAssembly.RuntimeError), aborted or died: its memory is gone. */
export const WORKSPACE_CRASHED = "WorkspaceCrashed";
/** A call on a closed (or restarted) workspace. */
export const WORKSPACE_CLOSED = "WorkspaceClosed";
/** openWorkspace() with the name of a workspace that is still open. */
export const WORKSPACE_EXISTS = "WorkspaceExists";
/** Kuzu refused a statement (parser, binder, runtime exception): the workspace is fine. */
export const KUZU_ERROR = "KuzuError";
/** A malformed request or reply, or an unknown message type. */
export const PROTOCOL_ERROR = "ProtocolError";

/**
 * @typedef {typeof OPEN | typeof EXECUTE | typeof QUERY | typeof MEMORY | typeof CLOSE | typeof TRAP | typeof PING} MessageType
 * @typedef {{id: number, type: MessageType, data: object}} Request
 * @typedef {{name: string, message: string, stack: string, crashed?: boolean,
 *            kind?: string, statement?: number, type?: string, workspace?: string}} ErrorInfo
 * @typedef {{id: number | null, ok: true, result: any, memoryBytes: number | null}} OkReply
 * @typedef {{id: number | null, ok: false, error: ErrorInfo, memoryBytes: number | null}} ErrorReply
 * @typedef {OkReply | ErrorReply} Reply
 */

/**
 * @param {number} id
 * @param {MessageType} type
 * @param {object} [data]
 * @returns {Request}
 */
export function request(id, type, data = {}) {
  return { id, type, data };
}

/**
 * @param {number | null} id
 * @param {any} result
 * @param {number | null} memoryBytes
 * @returns {OkReply}
 */
export function okReply(id, result, memoryBytes = null) {
  return { id, ok: true, result, memoryBytes };
}

/**
 * @param {number | null} id
 * @param {unknown} error anything thrown
 * @param {number | null} memoryBytes
 * @param {object} [extra] fields added to the error info (crashed, kind, ...)
 * @returns {ErrorReply}
 */
export function errorReply(id, error, memoryBytes = null, extra = {}) {
  return { id, ok: false, error: { ...serializeError(error), ...extra }, memoryBytes };
}

/**
 * Errors are posted as plain data: structured clone keeps neither custom
 * names nor extra fields of Error subclasses reliably.
 * @param {unknown} error
 * @returns {ErrorInfo}
 */
export function serializeError(error) {
  if (error instanceof Error || (error && typeof error === "object" && "message" in error)) {
    const e = /** @type {any} */ (error);
    const info = { name: String(e.name || "Error"), message: String(e.message), stack: String(e.stack || "") };
    for (const key of ["crashed", "kind", "statement", "type", "workspace"]) {
      if (e[key] !== undefined) info[key] = e[key];
    }
    return info;
  }
  return { name: "Error", message: String(error), stack: "" };
}

/**
 * An Error whose name and extra fields come from an ErrorInfo.
 * @param {ErrorInfo} info
 * @returns {Error & Partial<ErrorInfo>}
 */
export function deserializeError(info) {
  const error = /** @type {Error & Partial<ErrorInfo>} */ (new Error(info.message));
  error.name = info.name;
  if (info.stack) error.stack = info.stack;
  for (const [key, value] of Object.entries(info)) {
    if (!["name", "message", "stack"].includes(key)) error[key] = value;
  }
  return error;
}

/**
 * An Error with a given name and extra fields (no subclasses: the name is
 * what crosses the worker and the Pyodide bridge).
 * @param {string} name
 * @param {string} message
 * @param {object} [fields]
 * @returns {Error & Partial<ErrorInfo>}
 */
export function namedError(name, message, fields = {}) {
  const error = Object.assign(new Error(message), fields);
  error.name = name;
  return error;
}

/**
 * Throws a ProtocolError unless `message` is a well-formed request.
 * @param {unknown} message
 * @returns {Request}
 */
export function validateRequest(message) {
  if (!message || typeof message !== "object") {
    throw namedError(PROTOCOL_ERROR, "a request must be an object {id, type, data}");
  }
  const { id, type, data } = /** @type {any} */ (message);
  if (!Number.isInteger(id)) throw namedError(PROTOCOL_ERROR, `request id must be an integer, got ${JSON.stringify(id)}`);
  if (!MESSAGE_TYPES.includes(type)) {
    throw namedError(PROTOCOL_ERROR, `unknown message type ${JSON.stringify(type)}`, { type: String(type) });
  }
  if (data === null || typeof data !== "object") throw namedError(PROTOCOL_ERROR, `request data must be an object (type ${type})`);
  if ((type === EXECUTE || type === QUERY) && typeof data.cypher !== "string") {
    throw namedError(PROTOCOL_ERROR, `${type} needs data.cypher as a string`, { type });
  }
  return /** @type {Request} */ (message);
}

/**
 * Throws a ProtocolError unless `message` is a well-formed reply.
 * @param {unknown} message
 * @returns {Reply}
 */
export function validateReply(message) {
  const m = /** @type {any} */ (message);
  if (!m || typeof m !== "object" || typeof m.ok !== "boolean" || !(m.id === null || Number.isInteger(m.id))) {
    throw namedError(PROTOCOL_ERROR, "a reply must be an object {id, ok, result | error}");
  }
  if (!m.ok && (!m.error || typeof m.error.name !== "string" || typeof m.error.message !== "string")) {
    throw namedError(PROTOCOL_ERROR, "an error reply needs error.name and error.message");
  }
  return /** @type {Reply} */ (m);
}

/**
 * JSON for kuzu-wasm values: INT64/SERIAL may come back as BigInt, which
 * JSON.stringify refuses; safe integers become numbers, others strings.
 * @param {unknown} value
 * @returns {string}
 */
export function toJson(value) {
  return JSON.stringify(value, (_key, v) =>
    typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
  );
}
