// Lease lock across the tabs of one origin: the Web Locks API holds the lock,
// an IndexedDB counter (database "schemalog-leases") hands out the fencing
// tokens, incremented inside the lock so two holders never share a token.
// Behind pkg/schemalog/browser/lease.py.
//
// Web Locks release a lock when its tab closes or crashes, so a dead holder
// frees the resource at once; a live holder that stops renewing is taken over
// after its TTL (the record's expiresAtMs) with steal: true. A stolen lock's
// old holder learns it from the rejected request (AbortError) -- and, whatever
// it believes, the event store refuses its older token (FencedOut) once the
// new holder has raised the store's fence (lease_browser: acquire then an empty
// append with the new token).
//
// Fencing is part of taking the lease, not a separate step a caller may skip:
// acquire(..., {fenceLog}) raises that event log's fence to the new token
// (idb-store.mjs raiseFence) while holding the lock and before resolving, and
// a steal (asked, or the take-over of an expired grant) is refused without a
// fenceLog. A holder whose lock is taken from under it -- by our steal or by a
// plain navigator.locks.request(..., {steal: true}) that brings no token --
// fences itself out: it raises the log's fence past its own token at once,
// so its next append is FencedOut whoever took the lock.
//
// Errors: LeaseHeld {resource, holder, sinceMs, expiresAtMs}, LeaseLost {resource, reason},
// StealNeedsFence (a TypeError) when steal is asked without fenceLog.

import { raiseFence } from "./idb-store.mjs";

const DB_NAME = "schemalog-leases";
/** @type {Map<string, {token: number, release: () => void, lost: string | null, fenceLog: string | null, fenced: Promise<any> | null}>} */
const held = new Map();

function named(name, message, fields = {}) {
  const error = Object.assign(new Error(message), fields);
  error.name = name;
  return error;
}

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("grants");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Runs fn(store) in one readwrite transaction; resolves with its result after commit. */
async function withGrants(fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction("grants", "readwrite", { durability: "strict" });
      let result;
      Promise.resolve(fn(tx.objectStore("grants"))).then((r) => (result = r), reject);
      tx.oncomplete = () => resolve(result);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

function get(store, key) {
  return new Promise((resolve, reject) => {
    const r = store.get(key);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The stored grant of a resource (holder, token, sinceMs, expiresAtMs), or null. */
export async function currentGrant(resource) {
  return (await withGrants((store) => get(store, resource))) ?? null;
}

/**
 * Acquire the lease. Without steal, a held lease whose grant has not expired
 * is LeaseHeld; an expired one is taken over (a steal). With fenceLog, the
 * log's fence is raised to the new token before this resolves; every steal
 * needs it.
 * @param {{steal?: boolean, fenceLog?: string | null}} [options]
 * @returns {Promise<{resource, holder, token, expiresAtMs, fence: number | null}>}
 */
export async function acquire(resource, holder, ttlMs, { steal = false, fenceLog = null } = {}) {
  const name = `schemalog:${resource}`;
  if (steal && !fenceLog) {
    throw named("StealNeedsFence", `stealing the lease on ${resource} needs fenceLog: the log whose fence the new token raises (without it the old holder could still append)`, { resource });
  }
  const attempt = (options) =>
    new Promise((resolve, reject) => {
      let release;
      const holding = new Promise((r) => (release = r));
      navigator.locks
        .request(name, options, async (lock) => {
          if (!lock) return resolve(null);
          try {
            const now = Date.now();
            const grant = await withGrants(async (store) => {
              const last = await get(store, resource);
              const next = { holder, token: (last?.token ?? 0) + 1, sinceMs: now, expiresAtMs: now + ttlMs, ttlMs };
              store.put(next, resource);
              return next;
            });
            // The same step: no caller sees the token before the log refuses older ones.
            const fence = fenceLog ? await raiseFence(fenceLog, grant.token) : null;
            const entry = { token: grant.token, release, lost: null, fenceLog, fenced: null };
            held.set(resource, entry);
            resolve({ resource, holder, token: grant.token, expiresAtMs: grant.expiresAtMs, fence });
          } catch (error) {
            reject(error);
            return;
          }
          await holding; // the lock is held until release() (or a steal, or the tab goes)
        })
        .catch((error) => {
          // AbortError: another tab stole the lock.
          const entry = held.get(resource);
          if (entry) {
            entry.lost = `lock taken by another tab (${error.name})`;
            // Fence ourselves out: the taker may bring no token at all.
            if (entry.fenceLog) entry.fenced = raiseFence(entry.fenceLog, entry.token + 1).catch(() => null);
          }
          reject(error);
        });
    });
  let lease = await attempt(steal ? { steal: true } : { ifAvailable: true });
  if (lease) return lease;
  const grant = await currentGrant(resource);
  if (grant && Date.now() >= grant.expiresAtMs && fenceLog) {
    lease = await attempt({ steal: true }); // its holder stopped renewing
    if (lease) return lease;
  }
  throw named("LeaseHeld", `${resource} is leased to ${grant?.holder ?? "another tab"}`, {
    resource,
    holder: grant?.holder ?? "?",
    sinceMs: grant?.sinceMs ?? 0,
    expiresAtMs: grant?.expiresAtMs ?? 0,
  });
}

/** Extends the lease if it is still ours and current. */
export async function renew(resource, holder, token, ttlMs) {
  const entry = held.get(resource);
  const lost = (reason) => named("LeaseLost", `lease on ${resource} (token ${token}) is lost: ${reason}`, { resource, reason });
  if (!entry || entry.token !== token) throw lost("not held by this tab");
  if (entry.lost) throw lost(entry.lost);
  return withGrants(async (store) => {
    const grant = await get(store, resource);
    if (!grant || grant.token !== token) throw lost("superseded by a newer grant");
    const now = Date.now();
    grant.expiresAtMs = now + (ttlMs ?? grant.ttlMs);
    store.put(grant, resource);
    return { resource, holder, token, expiresAtMs: grant.expiresAtMs };
  });
}

/** Frees the lock if this tab holds it with this token; otherwise a no-op. */
export async function release(resource, token) {
  const entry = held.get(resource);
  if (!entry || entry.token !== token) return;
  held.delete(resource);
  await withGrants(async (store) => {
    const grant = await get(store, resource);
    if (grant && grant.token === token) {
      grant.expiresAtMs = Date.now();
      store.put(grant, resource);
    }
  });
  entry.release();
}

/** Resolves once a lost lease has fenced itself out (the fence, or null). */
export async function selfFenced(resource) {
  return (await held.get(resource)?.fenced) ?? null;
}

/** Why this tab's lease is lost (stolen), or null. */
export function lostReason(resource) {
  return held.get(resource)?.lost ?? null;
}
