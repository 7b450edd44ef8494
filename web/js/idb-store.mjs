// The browser event log: one IndexedDB database per log, behind
// pkg/schemalog/browser/store.py (which keeps the store port's rules; this
// module only stores lines and guards the head).
//
// Why IndexedDB and not OPFS: an IDB readwrite transaction writes several
// records atomically and is available on the main thread and in workers; its
// "strict" durability resolves `complete` only after the data is flushed, so an
// acknowledged append survives a closed tab or a crash. The head check
// (expected count + checksum) and the fencing-token check run inside the same
// transaction as the write, and IDB serializes overlapping readwrite
// transactions across tabs, so two tabs cannot interleave appends. OPFS's
// synchronous access handles are worker-only and exclusive per file (a second
// tab cannot even open the file), and its async API has no multi-file atomic
// write: the log's head record and its lines would need our own journal.
//
// Layout of database `schemalog-log:<name>` (version 1):
//   meta  "marker" -> {format, name, instance, createdMs}   written once, at creation
//         "head"   -> {count, checksum, fence}               updated by every append
//   lines <position> -> canonical record line (string, no newline)
// A missing marker means the log was evicted or deleted: StoreMissing, never
// an empty log. Lines are written as one "\n"-joined string and read as
// UTF-8 bytes of a bounded slice (readBytes/readAt): the Python side never
// holds the whole log (pkg/schemalog/browser/store.py, "Memory").
//
// Known logs: a small registry database (`schemalog-known-logs`) remembers,
// per log opened with `remember: true`, its instance id and the records it was
// seen with. A remembered log whose database is gone, recreated (another
// instance) or shorter opens as StoreMissing, never as an empty log: deleting
// one database (or the browser evicting it) cannot silently reset a workspace.
// Starting over is explicit: deleteLog(name) (which also forgets it).
//
// Errors (name, fields) for browser.py: StoreMissing {store, reason},
// AppendConflict {expected, actual}, FencedOut {token, newest},
// StoreQuotaExceeded {store, usage, quota}, StoreError.

const FORMAT = "schemalog-idb-1";
const PREFIX = "schemalog-log:";
const encoder = new TextEncoder();

function named(name, message, fields = {}) {
  const error = Object.assign(new Error(message), fields);
  error.name = name;
  return error;
}

function requestPromise(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function storageFigures() {
  try {
    const { usage, quota } = await navigator.storage.estimate();
    return { usage: usage ?? null, quota: quota ?? null };
  } catch {
    return { usage: null, quota: null };
  }
}

/** A DOMException of an aborted transaction or request, as one of our errors. */
async function translate(error, store) {
  if (error && error.name === "QuotaExceededError") {
    const figures = await storageFigures();
    return named(
      "StoreQuotaExceeded",
      `the browser refused to store more for log ${JSON.stringify(store)}: storage quota exceeded ` +
        `(usage ${figures.usage} of ${figures.quota} bytes); nothing of this append was written`,
      { store, ...figures },
    );
  }
  if (error && ["AppendConflict", "FencedOut", "StoreMissing", "StoreQuotaExceeded"].includes(error.name)) return error;
  return named("StoreError", `IndexedDB failed for log ${JSON.stringify(store)}: ${error?.name}: ${error?.message}`, { store });
}

/** @returns {Promise<string[]>} names of the logs of this origin */
export async function listLogs() {
  const dbs = await indexedDB.databases();
  return dbs.map((d) => d.name).filter((n) => n && n.startsWith(PREFIX)).map((n) => n.slice(PREFIX.length)).sort();
}

/** Deletes a log and forgets it: the explicit way to start over. */
export async function deleteLog(name) {
  await requestPromise(indexedDB.deleteDatabase(PREFIX + name));
  await forgetLog(name);
}

const KNOWN_DB = "schemalog-known-logs";

async function withKnown(mode, fn) {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open(KNOWN_DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("logs");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  try {
    const tx = db.transaction("logs", mode, mode === "readwrite" ? { durability: "strict" } : undefined);
    const result = await fn(tx.objectStore("logs"));
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onabort = () => reject(tx.error);
    });
    return result;
  } finally {
    db.close();
  }
}

/** What this browser remembers of log `name`: {instance, count, seenMs}, or null. */
export function knownLog(name) {
  return withKnown("readonly", (store) => requestPromise(store.get(name))).then((v) => v ?? null);
}

/** Remembers that log `name` is `instance` with at least `count` records. */
export function rememberLog(name, instance, count) {
  return withKnown("readwrite", async (store) => {
    const old = await requestPromise(store.get(name));
    const keep = old && old.instance === instance ? Math.max(old.count, count) : count;
    store.put({ instance, count: keep, seenMs: Date.now() }, name);
  });
}

/** Forgets log `name` (its database may stay). */
export function forgetLog(name) {
  return withKnown("readwrite", (store) => requestPromise(store.delete(name)));
}

/**
 * Raises the fencing token of log `name` to at least `token` (one IDB
 * transaction; never lowers it). Used by the lease (web-lease.mjs) in the
 * same step that takes a lock. StoreMissing if the log is not there.
 * @returns {Promise<number>} the fence now
 */
export async function raiseFence(name, token) {
  const log = await openLog(name, { create: false });
  try {
    const head = await log.append({ expectedCount: 0, expectedChecksum: null, token, lines: "", checksum: null });
    return head.fence;
  } catch (error) {
    // A newer token is already there: the fence is at least `token` either way.
    if (error && error.name === "FencedOut") return error.newest;
    throw error;
  } finally {
    log.close();
  }
}

/**
 * Opens (or with create: true creates) a log.
 * expectPosition: how many records the caller knows the log had; a log that is
 * missing or shorter is StoreMissing (evicted), never silently recreated empty.
 * @param {string} name
 * @param {{create?: boolean, expectPosition?: number, durability?: "strict" | "default" | "relaxed"}} [options]
 */
export async function openLog(name, options = {}) {
  const remember = options.remember ?? false;
  const known = remember ? await knownLog(name) : null;
  const create = options.create ?? true;
  const expectPosition = Math.max(options.expectPosition ?? 0, known ? known.count : 0);
  // A remembered log is never created again here, even with no records seen.
  const mayCreate = create && expectPosition === 0 && !known;
  let created = false;
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open(PREFIX + name, 1);
    request.onupgradeneeded = (event) => {
      const tx = request.transaction;
      if (event.oldVersion !== 0 || !mayCreate) {
        tx.abort(); // an unknown version, or a log we may not create: leave no database behind
        return;
      }
      const db = request.result;
      db.createObjectStore("meta");
      db.createObjectStore("lines");
      const meta = tx.objectStore("meta");
      meta.put({ format: FORMAT, name, instance: crypto.randomUUID(), createdMs: Date.now() }, "marker");
      meta.put({ count: 0, checksum: null, fence: null }, "head");
      created = true;
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => {
      const why = known
        ? `this browser held it (${known.count} records, last seen ${new Date(known.seenMs).toISOString()}) and its database is gone (deleted, or evicted by the browser)`
        : expectPosition > 0
          ? `expected ${expectPosition} records, the browser has no such log (evicted or deleted)`
          : "no such log (open it with create: true)";
      reject(named("StoreMissing", `event log ${JSON.stringify(name)} is missing: ${why}`, { store: name, reason: why }));
    };
    request.onblocked = () => reject(named("StoreError", `log ${JSON.stringify(name)} is being deleted or upgraded elsewhere`, { store: name }));
  });
  if (created && navigator.storage?.persist) navigator.storage.persist().catch(() => {});
  const log = new IdbLog(name, db, options.durability ?? "strict");
  let info;
  try {
    info = await log.info();
  } catch (error) {
    log.close();
    throw error;
  }
  const missing = (why) => {
    log.close();
    return named("StoreMissing", `event log ${JSON.stringify(name)} is missing: ${why}`, { store: name, reason: why });
  };
  if (known && known.instance !== info.instance) {
    throw missing(`this browser held another log under this name (${known.count} records); it was deleted and recreated`);
  }
  if (info.count < expectPosition) {
    throw missing(`expected at least ${expectPosition} records, the log has ${info.count} (evicted and recreated?)`);
  }
  if (remember) {
    await rememberLog(name, info.instance, info.count);
    log.remember = true;
  }
  return log;
}

export class IdbLog {
  /** @param {string} name @param {IDBDatabase} db @param {string} durability */
  constructor(name, db, durability) {
    this.name = name;
    this.db = db;
    this.durability = durability;
    this.gone = null;
    this.remember = false; // openLog({remember: true}): appends update the registry
    // Another tab deleting the database (or the browser evicting it) asks us to let go.
    db.onversionchange = () => {
      this.gone = "the log was deleted while open (another tab, or the browser evicted it)";
      db.close();
    };
    db.onclose = () => {
      this.gone ??= "the browser closed the database (evicted, or storage cleared)";
    };
  }

  #tx(stores, mode) {
    if (this.gone) throw named("StoreMissing", `event log ${JSON.stringify(this.name)} is missing: ${this.gone}`, { store: this.name, reason: this.gone });
    try {
      return this.db.transaction(stores, mode, mode === "readwrite" ? { durability: this.durability } : undefined);
    } catch (error) {
      if (error.name === "InvalidStateError") {
        this.gone ??= "the database connection is closed";
        throw named("StoreMissing", `event log ${JSON.stringify(this.name)} is missing: ${this.gone}`, { store: this.name, reason: this.gone });
      }
      throw error;
    }
  }

  #missing(why) {
    return named("StoreMissing", `event log ${JSON.stringify(this.name)} is missing: ${why}`, { store: this.name, reason: why });
  }

  /** @returns {Promise<{count: number, checksum: string | null, fence: number | null, instance: string, createdMs: number}>} */
  async info() {
    const tx = this.#tx(["meta"], "readonly");
    const meta = tx.objectStore("meta");
    const [marker, head] = await Promise.all([requestPromise(meta.get("marker")), requestPromise(meta.get("head"))]);
    if (!marker || marker.format !== FORMAT || !head) throw this.#missing("its marker record is gone");
    return { ...head, instance: marker.instance, createdMs: marker.createdMs };
  }

  /**
   * Lines [start, stop) as UTF-8 bytes joined by "\n" (no trailing newline): one
   * Uint8Array in the JS heap that Python copies into its heap once
   * (`to_bytes`), instead of a string it would decode and then encode again.
   */
  async readBytes(start, stop) {
    if (stop <= start) return new Uint8Array(0);
    const tx = this.#tx(["lines"], "readonly");
    const lines = await requestPromise(tx.objectStore("lines").getAll(IDBKeyRange.bound(start, stop - 1)));
    if (lines.length !== stop - start) throw this.#missing(`records ${start}..${stop - 1} are not all there`);
    return encoder.encode(lines.join("\n"));
  }

  /** The lines at `positions` (a JSON array of ints), as readBytes returns them, in that order. */
  async readAt(positions) {
    const wanted = JSON.parse(positions);
    if (!wanted.length) return new Uint8Array(0);
    const store = this.#tx(["lines"], "readonly").objectStore("lines");
    const lines = await Promise.all(wanted.map((p) => requestPromise(store.get(p))));
    const gone = wanted.filter((p, i) => typeof lines[i] !== "string");
    if (gone.length) throw this.#missing(`records ${gone.slice(0, 5).join(", ")} are not there`);
    return encoder.encode(lines.join("\n"));
  }

  /**
   * Appends lines atomically after checking, in the same transaction, that the
   * head is still (expectedCount, expectedChecksum) and that `token` is not
   * older than the newest fencing token. `lines` may be "" (only raise the fence).
   * Resolves after the transaction committed (durability "strict": flushed).
   * @param {{expectedCount: number, expectedChecksum: string | null, token: number | null,
   *          lines: string, checksum: string | null}} request checksum: of the last new line
   */
  append(request) {
    // Python's None arrives as undefined: normalize to null.
    const expectedCount = request.expectedCount;
    const expectedChecksum = request.expectedChecksum ?? null;
    const token = request.token ?? null;
    const checksum = request.checksum ?? null;
    const lines = request.lines === "" ? [] : request.lines.split("\n");
    let tx;
    try {
      tx = this.#tx(["meta", "lines"], "readwrite");
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      let refusal = null;
      let result = null;
      const meta = tx.objectStore("meta");
      const refuse = (error) => {
        refusal = error;
        tx.abort();
      };
      const markerRequest = meta.get("marker");
      const headRequest = meta.get("head");
      headRequest.onsuccess = () => {
        const marker = markerRequest.result;
        const head = headRequest.result;
        if (!marker || !head) return refuse(this.#missing("its marker record is gone"));
        const fence = head.fence;
        if (token === null && fence !== null) return refuse(named("FencedOut", `fenced out: no token, newest is ${fence}`, { token: null, newest: fence }));
        if (token !== null && fence !== null && token < fence) {
          return refuse(named("FencedOut", `fenced out: token ${token}, newest is ${fence}`, { token, newest: fence }));
        }
        const newFence = token !== null && (fence === null || token > fence) ? token : fence;
        if (lines.length && (head.count !== expectedCount || head.checksum !== expectedChecksum)) {
          return refuse(named("AppendConflict", `append conflict: expected head ${expectedChecksum} at ${expectedCount}, log head is ${head.checksum} at ${head.count}`,
            { expected: expectedChecksum, actual: head.checksum, actualCount: head.count }));
        }
        const store = tx.objectStore("lines");
        lines.forEach((line, i) => store.add(line, head.count + i)); // add: never overwrite a position
        result = lines.length
          ? { count: head.count + lines.length, checksum, fence: newFence }
          : { count: head.count, checksum: head.checksum, fence: newFence };
        meta.put(result, "head");
      };
      tx.oncomplete = () => {
        if (this.remember && lines.length) {
          // Best effort, after the commit: the instance was remembered at open (awaited).
          this.info().then((i) => rememberLog(this.name, i.instance, i.count)).catch(() => {});
        }
        resolve(result);
      };
      // A failed put (quota) aborts the transaction: nothing of the batch is written.
      tx.onabort = async () => reject(await translate(refusal ?? tx.error, this.name));
    });
  }

  /** Estimated storage of the origin, and whether it is persistent (not evicted under pressure). */
  async storage() {
    const figures = await storageFigures();
    const persisted = navigator.storage?.persisted ? await navigator.storage.persisted() : null;
    return { ...figures, persisted };
  }

  close() {
    this.gone ??= "closed";
    this.db.close();
  }
}
