// The demo's tamper hook: flips one byte of a stored record of a workspace's
// event log, straight in IndexedDB (database "schemalog-log:<name>", object
// store "lines", key = position; layout in idb-store.mjs), behind the back of
// the store adapter. Verification then has to find it. restoreLine puts the
// original record back.

const PREFIX = "schemalog-log:";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(PREFIX + name, 1);
    req.onupgradeneeded = () => req.transaction.abort(); // never create a log here
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Error(`no event log named ${JSON.stringify(name)} in this browser`));
  });
}

async function withLines(name, mode, work) {
  const db = await openDb(name);
  try {
    const tx = db.transaction(["lines"], mode);
    const result = await work(tx.objectStore("lines"));
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onabort = () => reject(tx.error);
    });
    return result;
  } finally {
    db.close();
  }
}

/** Number of stored records. */
export function countLines(name) {
  return withLines(name, "readonly", (lines) => request(lines.count()));
}

/**
 * Flips the lowest bit of one ASCII letter or digit inside the event body of
 * record `position` (the checksum no longer matches).
 * @returns {Promise<{position: number, index: number, before: string, after: string, original: string}>}
 */
export function tamperLine(name, position) {
  return withLines(name, "readwrite", async (lines) => {
    const original = await request(lines.get(position));
    if (typeof original !== "string") throw new Error(`the log has no record at position ${position}`);
    const body = original.indexOf('"event":');
    let index = body < 0 ? Math.floor(original.length / 2) : body + 40;
    while (index < original.length && !/[A-Za-z0-9]/.test(original[index])) index++;
    if (index >= original.length) throw new Error(`nothing to flip in record ${position}`);
    const flipped = String.fromCharCode(original.charCodeAt(index) ^ 1);
    const changed = original.slice(0, index) + flipped + original.slice(index + 1);
    lines.put(changed, position);
    return { position, index, before: original[index], after: flipped, original };
  });
}

/** Puts a record back as it was. */
export function restoreLine(name, position, original) {
  return withLines(name, "readwrite", async (lines) => {
    lines.put(original, position);
  });
}
