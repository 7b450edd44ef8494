// Workspaces: one kuzu-wasm Worker each (web/js/kuzu-worker.mjs), so a trap
// in one cannot touch another. This is the page-side client: it numbers the
// requests, keeps the pending ones, and turns a dead or trapped worker into a
// WorkspaceCrashed rejection of every pending call.
//
// Liveness: a worker terminated from outside (Worker.terminate(), the browser
// killing it) sends no event at all, and a worker stuck in a loop answers
// nothing. So every call has a timeout (default DEFAULT_CALL_TIMEOUT_MS), and
// an open worker is pinged every heartbeatMs: no message from it for
// heartbeatTimeoutMs while a ping is out makes it crashed (kind
// "Unresponsive"): every pending call is rejected with WorkspaceCrashed and a
// "crash" event fires, within seconds, without waiting for the next action.
//
// Registry rule: one open workspace per name. openWorkspace() with a name that
// is still open (ready, starting or crashed) rejects with WorkspaceExists;
// use getWorkspace(name) to find it, restart() to revive a crashed one, and
// close() to free the name. Silently handing back the existing workspace
// would hide differing options (buffer pool) and double ownership.
//
// Python (Pyodide) awaits these promises through the JS bridge; results of
// execute() are JSON strings so they cross the bridge as one value.

import {
  CLOSE,
  DEFAULT_BUFFER_POOL_BYTES,
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_OPEN_TIMEOUT_MS,
  EXECUTE,
  MEMORY,
  OPEN,
  PING,
  QUERY,
  WORKSPACE_CLOSED,
  WORKSPACE_CRASHED,
  WORKSPACE_EXISTS,
  deserializeError,
  namedError,
  request,
  validateReply,
} from "./protocol.mjs";

/** @typedef {"starting" | "ready" | "crashed" | "closed"} WorkspaceState */

/**
 * @typedef {object} WorkspaceOptions
 * @property {number} [bufferPoolBytes] Kuzu buffer pool (default DEFAULT_BUFFER_POOL_BYTES, 64 MiB)
 * @property {(error: Error, workspace: Workspace) => void} [onCrash] also a "crash" event
 * @property {number} [timeoutMs] a call unanswered this long is a crash, kind "Timeout" (default DEFAULT_CALL_TIMEOUT_MS; 0: no limit)
 * @property {number} [openTimeoutMs] the same for OPEN, which loads kuzu-wasm (default DEFAULT_OPEN_TIMEOUT_MS)
 * @property {number} [heartbeatMs] ping interval of an open worker (default DEFAULT_HEARTBEAT_MS; 0: no heartbeat)
 * @property {number} [heartbeatTimeoutMs] silence while a ping is out that is a crash, kind "Unresponsive" (default DEFAULT_HEARTBEAT_TIMEOUT_MS)
 * @property {string | URL} [workerUrl] default ./kuzu-worker.mjs next to this file
 * @property {string} [kuzuUrl] kuzu-wasm sync build, resolved against the worker (default ../../kuzu-wasm/sync/index.js)
 * @property {boolean} [faultInjection] let call(TRAP, {mode}) crash the worker on purpose (tests only)
 */

/** @type {Map<string, Workspace>} */
const registry = new Map();

/**
 * Starts a workspace: a fresh Worker with its own in-memory Kuzu database.
 * @param {string} name
 * @param {WorkspaceOptions} [options]
 * @returns {Promise<Workspace>} resolved once the database is open
 */
export async function openWorkspace(name, options = {}) {
  if (typeof name !== "string" || name === "") throw new TypeError("a workspace name must be a non-empty string");
  if (registry.has(name)) {
    throw namedError(WORKSPACE_EXISTS, `workspace ${JSON.stringify(name)} is already open`, { workspace: name });
  }
  const workspace = new Workspace(name, options);
  registry.set(name, workspace);
  try {
    await workspace.restart();
  } catch (error) {
    await workspace.close();
    throw error;
  }
  return workspace;
}

/** @param {string} name @returns {Workspace | null} */
export function getWorkspace(name) {
  return registry.get(name) ?? null;
}

/** @returns {string[]} names of the open workspaces */
export function listWorkspaces() {
  return [...registry.keys()];
}

/**
 * Events: "crash" (detail {error}), "restart", "close", "workerror" (detail
 * {error}: an unsolicited, non-fatal report from the worker).
 */
export class Workspace extends EventTarget {
  /** @type {WorkspaceState} */
  state = "starting";
  /** WebAssembly memory of the worker as of its last reply (bytes), null before the first. */
  memoryBytes = /** @type {number | null} */ (null);
  /** The WorkspaceCrashed error while crashed. */
  crashError = /** @type {Error | null} */ (null);
  /** kuzu-wasm version reported by the worker. */
  version = "";
  /** How many workers this workspace has started (1 + restarts). */
  generation = 0;

  /** @type {Worker | null} */
  #worker = null;
  /** @type {Map<number, {resolve: (v: any) => void, reject: (e: Error) => void, timer: any}>} */
  #pending = new Map();
  #nextId = 1;
  /** @type {Promise<Workspace> | null} */
  #starting = null;
  /** performance.now() of the last message from the current worker */
  #lastHeard = 0;
  /** performance.now() when the unanswered ping was sent, or 0 */
  #pingSince = 0;
  #heartbeat = /** @type {any} */ (null);
  /** When the current state began (performance.now()), and what made it crashed. */
  crashedAt = /** @type {number | null} */ (null);

  /**
   * Use openWorkspace(); the constructor does not start a worker.
   * @param {string} name
   * @param {WorkspaceOptions} options
   */
  constructor(name, options = {}) {
    super();
    this.name = name;
    this.options = {
      bufferPoolBytes: DEFAULT_BUFFER_POOL_BYTES,
      timeoutMs: DEFAULT_CALL_TIMEOUT_MS,
      openTimeoutMs: DEFAULT_OPEN_TIMEOUT_MS,
      heartbeatMs: DEFAULT_HEARTBEAT_MS,
      heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
      ...options,
    };
  }

  /**
   * One or more Cypher statements.
   * @param {string} cypher
   * @returns {Promise<string>} JSON: an array per statement of its rows (objects)
   */
  execute(cypher) {
    return this.call(EXECUTE, { cypher });
  }

  /**
   * @param {string} cypher one statement (with several, the last one's rows)
   * @returns {Promise<object[]>} the rows, parsed (for JS callers)
   */
  async query(cypher) {
    return JSON.parse(await this.queryJson(cypher));
  }

  /** @param {string} cypher @returns {Promise<string>} JSON array of row objects */
  queryJson(cypher) {
    return this.call(QUERY, { cypher });
  }

  /** @returns {Promise<{wasmBytes: number | null, jsHeapBytes: number | null}>} */
  memory() {
    return this.call(MEMORY);
  }

  /**
   * Sends a raw request; the reply's result, or a rejection with the error
   * the worker posted (its name kept: KuzuError, ProtocolError, ...).
   * @param {string} type
   * @param {object} [data]
   * @returns {Promise<any>}
   */
  call(type, data = {}) {
    if (this.state === "crashed") return Promise.reject(this.crashError);
    if (this.state === "closed" || !this.#worker) {
      return Promise.reject(namedError(WORKSPACE_CLOSED, `workspace ${JSON.stringify(this.name)} is closed`, { workspace: this.name }));
    }
    return this.#send(this.#worker, type, data);
  }

  /**
   * A fresh worker and an empty database (the caller replays the log).
   * Pending calls of the old worker are rejected with WorkspaceClosed.
   * @returns {Promise<Workspace>}
   */
  restart() {
    if (this.state === "closed") {
      return Promise.reject(namedError(WORKSPACE_CLOSED, `workspace ${JSON.stringify(this.name)} is closed`, { workspace: this.name }));
    }
    if (this.#starting) return this.#starting;
    const wasStarted = this.generation > 0;
    this.#stop(namedError(WORKSPACE_CLOSED, `workspace ${JSON.stringify(this.name)} was restarted`, { workspace: this.name }));
    this.state = "starting";
    this.crashError = null;
    this.crashedAt = null;
    this.generation += 1;
    const url = this.options.workerUrl ?? new URL("./kuzu-worker.mjs", import.meta.url);
    const worker = new Worker(url, { type: "module", name: `kuzu-workspace:${this.name}` });
    this.#listen(worker);
    this.#worker = worker;
    const open = { name: this.name, bufferPoolBytes: this.options.bufferPoolBytes };
    if (this.options.kuzuUrl) open.kuzuUrl = this.options.kuzuUrl;
    if (this.options.faultInjection) open.faultInjection = true;
    this.#starting = this.#send(worker, OPEN, open, this.options.openTimeoutMs)
      .then((result) => {
        this.version = result.version;
        if (this.#worker === worker) {
          this.state = "ready";
          this.#startHeartbeat(worker);
        }
        if (wasStarted) this.dispatchEvent(new CustomEvent("restart", { detail: { generation: this.generation } }));
        return this;
      })
      .finally(() => {
        this.#starting = null;
      });
    return this.#starting;
  }

  /** Closes the database, terminates the worker, frees the name. Idempotent. */
  async close() {
    if (this.state === "closed") return;
    const worker = this.#worker;
    if (worker && this.state === "ready") {
      // Best effort: the worker is terminated right after either way.
      await this.#send(worker, CLOSE, {}).catch(() => {});
    }
    this.#stop(namedError(WORKSPACE_CLOSED, `workspace ${JSON.stringify(this.name)} was closed`, { workspace: this.name }));
    this.state = "closed";
    if (registry.get(this.name) === this) registry.delete(this.name);
    this.dispatchEvent(new Event("close"));
  }

  /** @param {Worker} worker @param {string} type @param {object} data @param {number} [timeoutMs] */
  #send(worker, type, data, timeoutMs = this.options.timeoutMs) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              if (worker === this.#worker) this.#crash(`no reply to ${type} within ${timeoutMs} ms`, "Timeout");
            }, timeoutMs)
          : null;
      this.#pending.set(id, { resolve, reject, timer });
      worker.postMessage(request(id, /** @type {any} */ (type), data));
    });
  }

  /** @param {Worker} worker */
  #listen(worker) {
    // Messages and errors of a replaced worker are ignored.
    worker.addEventListener("message", (event) => {
      if (worker !== this.#worker) return;
      this.#lastHeard = performance.now();
      this.#pingSince = 0;
      this.#receive(event.data);
    });
    // A worker that fails to load or throws past its own listeners.
    worker.addEventListener("error", (event) => {
      event.preventDefault();
      if (worker === this.#worker) this.#crash(event.message || "the worker failed (script not loaded?)", "WorkerError");
    });
    worker.addEventListener("messageerror", () => {
      if (worker === this.#worker) this.#crash("a reply could not be deserialized", "MessageError");
    });
  }

  /** @param {unknown} message */
  #receive(message) {
    let reply;
    try {
      reply = validateReply(message);
    } catch (error) {
      this.#crash(/** @type {Error} */ (error).message, "ProtocolError");
      return;
    }
    if (reply.memoryBytes != null) this.memoryBytes = reply.memoryBytes;
    if (!reply.ok && reply.error.crashed) {
      this.#crash(reply.error.message, reply.error.kind ?? reply.error.name, reply.error.stack);
      return;
    }
    if (reply.id === null) {
      if (!reply.ok) this.dispatchEvent(new CustomEvent("workerror", { detail: { error: deserializeError(reply.error) } }));
      return;
    }
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(Object.assign(deserializeError(reply.error), { workspace: this.name }));
  }

  /**
   * Pings `worker` every heartbeatMs; silence for heartbeatTimeoutMs while a
   * ping is out is a crash. Any message counts as a sign of life.
   * @param {Worker} worker
   */
  #startHeartbeat(worker) {
    clearInterval(this.#heartbeat);
    const every = this.options.heartbeatMs;
    if (!(every > 0)) return;
    const limit = this.options.heartbeatTimeoutMs;
    this.#lastHeard = performance.now();
    this.#pingSince = 0;
    this.#heartbeat = setInterval(() => {
      if (worker !== this.#worker || this.state !== "ready") return;
      const now = performance.now();
      if (this.#pingSince && now - Math.max(this.#pingSince, this.#lastHeard) >= limit) {
        const silent = Math.round(now - this.#lastHeard);
        this.#crash(`the worker did not answer for ${silent} ms (terminated, killed or stuck)`, "Unresponsive");
        return;
      }
      if (!this.#pingSince) {
        this.#pingSince = now;
        // The ping's own promise never rejects the page: its outcome is the heartbeat.
        this.#send(worker, PING, {}, 0).catch(() => {});
      }
    }, every);
  }

  /**
   * The worker is gone or its memory is not to be trusted: terminate it and
   * reject every pending call with one WorkspaceCrashed error.
   * @param {string} reason
   * @param {string} kind what failed: RuntimeError (a trap), WorkerError, Timeout, ...
   * @param {string} [stack]
   */
  #crash(reason, kind, stack) {
    if (this.state === "closed" || this.state === "crashed") return;
    const prefix = `workspace ${JSON.stringify(this.name)} crashed`;
    const message = reason.startsWith(prefix) ? reason : `${prefix}: ${reason}`;
    const error = namedError(WORKSPACE_CRASHED, message, { workspace: this.name, crashed: true, kind });
    if (stack) error.stack = stack;
    this.#stop(error);
    this.state = "crashed";
    this.crashError = error;
    this.crashedAt = performance.now();
    this.dispatchEvent(new CustomEvent("crash", { detail: { error } }));
    try {
      this.options.onCrash?.(error, this);
    } catch (callbackError) {
      console.error("onCrash callback failed", callbackError);
    }
  }

  /** Terminates the current worker and rejects its pending calls with `error`. */
  #stop(error) {
    clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    this.#worker?.terminate();
    this.#worker = null;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const { reject, timer } of pending) {
      clearTimeout(timer);
      reject(error);
    }
  }
}
