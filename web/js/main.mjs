// The demo page: starts Python with our package (python.mjs) and drives the
// demo API of pkg/schemalog/browser/demo.py (JSON strings in and out). One Python
// call at a time (a queue): a call suspended by JSPI (waiting for IndexedDB
// or the kuzu-wasm worker) must not let a second one run in its middle.
// Every failure lands in the error panel (#error), not only in the console.

import { barChart, lineChart } from "./demo-charts.mjs";
import { drawSchema } from "./demo-graph.mjs";
import { restoreLine, tamperLine } from "./demo-tamper.mjs";
import { openLiveSync } from "./live-sync.mjs";
import { openRemoteSync } from "./remote-sync.mjs";
import { PY_CALL, PY_CANCEL, PY_TERMINATE_WORKSPACE, deserializeError, request, validateReply } from "./protocol.mjs";

const $ = (id) => document.getElementById(id);
const MIB = 1024 * 1024;
const fmtBytes = (n) => (n == null ? "-" : n >= MIB ? `${(n / MIB).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
const fmtInt = (n) => (n == null ? "-" : Number(n).toLocaleString("en-US"));

// ------------------------------------------------------------- errors

function showError(error, where = "") {
  const panel = $("error");
  panel.hidden = false;
  const item = document.createElement("li");
  const name = error?.name ?? "Error";
  const rule = error?.rule ? ` [${error.rule}]` : "";
  item.textContent = `${new Date().toLocaleTimeString()} ${where ? where + ": " : ""}${name}${rule}: ${error?.message ?? error}`;
  item.dataset.name = name;
  $("error-list").prepend(item);
  console.error(where, error);
}
$("error-clear").addEventListener("click", () => {
  $("error-list").replaceChildren();
  $("error").hidden = true;
});
window.addEventListener("unhandledrejection", (event) => showError(event.reason, "unhandled"));
window.addEventListener("error", (event) => showError(event.error ?? event.message, "script"));

// ------------------------------------------------------------- Python calls

// Python runs in its own Worker (python-worker.mjs): the page stays responsive
// whatever Python does. The worker runs one call at a time, in order.
const workerUrl = new URL("./python-worker.mjs", import.meta.url);
if (new URL(location.href).searchParams.get("faults") === "1") workerUrl.searchParams.set("faults", "1");
const python = new Worker(workerUrl, { type: "module", name: "schemalog-python" });
const pending = new Map();
let nextId = 1;
/** @type {(news: any) => void} */
let onNews = () => {};
python.addEventListener("message", (event) => {
  const reply = validateReply(event.data);
  if (reply.id === null) {
    if (reply.ok) onNews(reply.result);
    else {
      showError(deserializeError(reply.error), "Python worker");
      $("status").textContent = "failed";
      $("status").dataset.state = "failed";
    }
    return;
  }
  const call = pending.get(reply.id);
  if (!call) return;
  pending.delete(reply.id);
  if (reply.ok) call.resolve(reply.result);
  else call.reject(deserializeError(reply.error));
});
python.addEventListener("error", (event) => showError(event.error ?? new Error(event.message || "the Python worker failed"), "Python worker"));

function send(type, data = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    python.postMessage(request(id, /** @type {any} */ (type), data));
  });
}

/** Calls demo.py's `method`; resolves with its result, rejects with its error fields. */
function py(method, args = {}) {
  return send(PY_CALL, { method, args: JSON.stringify(args) }).then((text) => {
    const reply = JSON.parse(text);
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), reply.error);
    return reply.result;
  });
}

/** Runs a UI action: the button is busy meanwhile; errors go to the panel. */
async function action(button, where, work) {
  button.disabled = true;
  button.dataset.busy = "yes";
  document.body.dataset.busy = String(Number(document.body.dataset.busy || 0) + 1);
  try {
    return await work();
  } catch (error) {
    showError(error, where);
    return undefined;
  } finally {
    button.disabled = false;
    delete button.dataset.busy;
    document.body.dataset.busy = String(Number(document.body.dataset.busy) - 1);
  }
}

// ------------------------------------------------------------- workspace state

let current = null; // status() of the open workspace
let live = null;
let remote = null; // the sync with a served log (?server=URL&log=NAME)
let logCursors = [null]; // cursor before each page visited: the way back
let logPage = 0;

function showStatus(s) {
  current = s;
  $("pyodide-heap").textContent = fmtBytes(s.pyodide_heap);
  if (!s.workspace) return;
  $("ws-current").textContent = s.workspace;
  $("ws-state").textContent = s.state + (s.healed.length ? ` (rebuilt ${s.healed.length}×)` : "");
  $("ws-state").dataset.state = s.state;
  $("ws-state").dataset.rebuilt = String(s.healed.length);
  $("ws-memory").textContent = `${fmtBytes(s.memory_bytes)} WebAssembly memory (worker generation ${s.generation})`;
  const c = s.capacity;
  $("ws-capacity").textContent = c
    ? `${c.node_tables_created} created since the database was (re)built, ${c.node_tables_left} more fit (limited by ${c.limited_by}; ` +
      `the buffer pool holds ${c.node_table_limit}, one is the bookkeeping table; DROP gives room back only after a rebuild)`
    : "-";
  $("ws-capacity").dataset.left = c ? String(c.node_tables_left) : "";
  const u = s.unapplied;
  $("ws-unapplied").hidden = !u;
  $("ws-unapplied").textContent = u
    ? `Recorded, not yet applied: the log has ${u.position} records, the database applied ${u.applied ?? "none"}. Why: ${u.reason}. Rebuild to retry.`
    : "";
  $("ws-position").textContent = fmtInt(s.position);
  if (s.strategy && $("ws-strategy").value !== s.strategy) $("ws-strategy").value = s.strategy;
  $("ws-hash").textContent = s.hash;
  document.body.dataset.hash = s.hash;
  document.body.dataset.position = String(s.position);
  for (const select of document.querySelectorAll(".table-select")) {
    const keep = select.value;
    select.replaceChildren(...s.tables.map((t) => new Option(t, t)));
    if (s.tables.includes(keep)) select.value = keep;
  }
  refreshPairs(s.tables);
}

async function refreshViews({ logToEnd = false } = {}) {
  const [schema, found] = await Promise.all([py("schema"), py("conflicts")]);
  drawSchema($("graph"), schema);
  $("graph").dataset.hash = schema.hash;
  logConflictsView(found);
  if (logToEnd) {
    logCursors = [null];
    logPage = 0;
  }
  await showLog();
}

async function showLog() {
  const limit = Number($("log-limit").value);
  const page = await py("log", { after: logCursors[logPage], limit });
  const body = $("log-table").querySelector("tbody");
  body.replaceChildren(
    ...page.rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.position = r.position;
      tr.dataset.kind = r.kind;
      for (const [text, cls] of [[r.position, "num"], [r.id, "mono"], [r.kind, ""], [r.summary, ""], [r.checksum, "mono"]]) {
        const td = document.createElement("td");
        td.textContent = text;
        td.title = String(text); // a cell cut with an ellipsis shows its whole text on hover
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }),
  );
  const first = page.rows.length ? page.rows[0].position : 0;
  const last = page.rows.length ? page.rows[page.rows.length - 1].position : -1;
  $("log-info").textContent = page.total ? `records ${first}–${last} of ${fmtInt(page.total)}` : "the log is empty";
  logCursors[logPage + 1] = page.cursor;
  $("log-prev").disabled = logPage === 0;
  $("log-next").disabled = last + 1 >= page.total;
}

/** One line per conflict: both sides (which tab, what), and how it was decided. */
function conflictLine(c) {
  const sides = c.sides.map((x) => `${x.who}: ${x.kind} ${x.summary}`).join("  vs  ");
  const outcome = c.winner ? `resolved: ${c.winner_who} wins (Merge event ${c.resolved_by})` : "open: no resolution yet";
  return `${c.kind} on ${c.element} — ${sides} → ${outcome}`;
}

function logConflictsView(r) {
  const list = $("log-conflicts");
  list.replaceChildren(
    ...r.conflicts.map((c) => {
      const li = document.createElement("li");
      li.dataset.kind = c.kind;
      li.dataset.key = c.key;
      li.dataset.state = c.winner ? "resolved" : "open";
      li.dataset.winner = c.winner ?? "";
      li.dataset.resolvedBy = c.resolved_by ?? "";
      li.textContent = conflictLine(c);
      if (!c.winner) {
        for (const side of c.sides) {
          const keep = document.createElement("button");
          keep.type = "button";
          keep.className = "keep";
          keep.dataset.winner = side.id;
          keep.textContent = `keep ${side.who}'s ${side.summary}`;
          keep.addEventListener("click", () =>
            action(keep, "resolve", async () => {
              const done = await py("resolve", { key: c.key, winner: side.id });
              showStatus(done.status);
              announce(done.status);
              await refreshViews({ logToEnd: true });
            }),
          );
          li.append(" ", keep);
        }
      }
      return li;
    }),
  );
  const dd = $("ws-conflicts");
  dd.dataset.count = String(r.conflicts.length);
  dd.dataset.open = String(r.open);
  dd.textContent = r.conflicts.length ? `${r.conflicts.length} in the log, ${r.open} open` : "none";
}

/** What a write met: records of other tabs it had not seen, conflicts, Merge events. */
function writtenText(w) {
  if (!w || !w.unseen) return "";
  const met = w.conflicts.length ? `; ${w.conflicts.map(conflictLine).join("; ")}` : "; no conflict";
  return ` — concurrent with ${w.unseen} record${w.unseen === 1 ? "" : "s"} this tab had not seen${met}`;
}

/** A workspace worker's crash, as the Python worker reports it: shown at once. */
function onCrash(news) {
  if (news.workspace !== current?.workspace) return;
  {
    const error = Object.assign(new Error(news.error.message), news.error);
    $("ws-state").textContent = `crashed (${error.kind}): rebuilding from the log…`;
    $("ws-state").dataset.state = "crashed";
    $("ws-state").dataset.crashes = String(Number($("ws-state").dataset.crashes || 0) + 1);
    showError(error, "workspace");
    // Heal: a call that met the crash has rebuilt already; otherwise rebuild now.
    py("status")
      .then((st) => (st.state === "crashed" ? py("rebuild") : st))
      .then((st) => showStatus(st))
      .catch((e) => showError(e, "rebuild"));
  }
}

function showStoreMissing(name, error) {
  const box = $("store-missing");
  box.hidden = false;
  box.dataset.workspace = name;
  $("store-missing-text").textContent =
    `The event log of workspace "${name}" is missing: ${error.message}. ` +
    "Nothing was opened and nothing was created. If it cannot be restored, you can start a new, empty log under this name.";
}

async function openWorkspace(name, { newLog = false } = {}) {
  let s;
  try {
    s = await py("open", { name, strategy: $("ws-strategy").value, new_log: newLog });
  } catch (error) {
    if (error.name === "StoreMissing") showStoreMissing(name, error);
    throw error;
  }
  $("store-missing").hidden = true;
  showStatus(s);
  live?.close();
  live = openLiveSync(s.workspace, (news) => {
    if (news.origin === s.origin) return;
    $("ws-live").textContent = `news from ${news.origin} (record ${news.position}) — syncing`;
    py("sync")
      .then((st) => {
        showStatus(st);
        $("ws-live").textContent = `in sync with ${news.origin} (${st.new} new record${st.new === 1 ? "" : "s"})`;
        return refreshViews({ logToEnd: true });
      })
      .catch((error) => showError(error, "live sync"));
  });
  $("ws-live").textContent = `listening on BroadcastChannel schemalog:${s.workspace} as ${s.origin}`;
  for (const b of document.querySelectorAll("button[disabled]:not(#log-prev):not(#log-next)")) b.disabled = false;
  document.body.dataset.workspace = s.workspace;
  await refreshViews({ logToEnd: true });
  const url = new URL(location.href);
  url.searchParams.set("workspace", s.workspace);
  history.replaceState(null, "", url);
  remote?.close();
  remote = null;
  const server = url.searchParams.get("server");
  const log = url.searchParams.get("log") || s.workspace;
  if (server && log === s.workspace) await attachRemote(server, log);
  else showRemote(null);
}

function announce(s) {
  live?.announce({ origin: s.origin, position: s.position, checksum: null });
  remote?.kick(); // local writes are pushed as soon as the service can take them
}

// ------------------------------------------------------------- served log

function showRemote(r) {
  const el = $("ws-remote");
  if (!r) {
    el.dataset.state = "detached";
    return;
  }
  const where = `${r.server}/logs/${r.log}`;
  const waiting = r.pending ? `; ${r.pending} local record${r.pending === 1 ? "" : "s"} waiting to be pushed` : "";
  el.textContent =
    r.state === "online"
      ? `online: ${where}, in sync at record ${r.agreed}${waiting}`
      : r.state === "offline"
        ? `offline: ${where} cannot be reached${waiting}; changes are kept in this browser and pushed on reconnect`
        : `connecting to ${where}`;
  el.title = r.error ?? "";
  el.dataset.state = r.state;
  el.dataset.pending = String(r.pending);
  el.dataset.agreed = String(r.agreed);
  el.dataset.rounds = String(r.rounds);
}

async function attachRemote(server, log) {
  const first = await py("attach", { server, log });
  showStatus(first);
  showRemote(first.remote);
  remote = openRemoteSync({
    server,
    log,
    round: () => py("remote_sync"),
    onRound: (st) => {
      showStatus(st);
      showRemote(st.remote);
      if (st.round.pulled || st.round.replaced) live?.announce({ origin: st.origin, position: st.position, checksum: null });
      if (st.round.pulled || st.round.replaced) refreshViews({ logToEnd: true }).catch((error) => showError(error, "served log"));
    },
    onError: (error) => showError(error, "served log"),
  });
}

// ------------------------------------------------------------- the change form

function showFields() {
  const kind = $("change-kind").value;
  for (const node of document.querySelectorAll("#change-form [data-kinds]")) {
    node.hidden = !node.dataset.kinds.split(" ").includes(kind);
  }
}

function addPair(from = "", to = "") {
  const row = document.createElement("div");
  row.className = "pair";
  const tables = current?.tables ?? [];
  for (const value of [from, to]) {
    const select = document.createElement("select");
    select.className = "pair-end";
    select.append(...tables.map((t) => new Option(t, t)));
    if (value) select.value = value;
    row.append(select);
    if (row.children.length === 1) row.append(" → ");
  }
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "×";
  remove.addEventListener("click", () => row.remove());
  row.append(remove);
  $("f-pairs").append(row);
}

function refreshPairs(tables) {
  for (const select of document.querySelectorAll("#f-pairs select")) {
    const keep = select.value;
    select.replaceChildren(...tables.map((t) => new Option(t, t)));
    if (tables.includes(keep)) select.value = keep;
  }
  if (!$("f-pairs").children.length && tables.length) addPair();
}

function changeArgs() {
  const kind = $("change-kind").value;
  return {
    kind,
    name: $("f-name").value,
    table: $("f-table").value,
    property: $("f-property").value,
    new_name: $("f-new-name").value,
    primary_key: $("f-pk").value,
    multiplicity: $("f-multiplicity").value,
    properties: $("f-properties").value,
    comment: $("f-comment").value,
    pairs: [...$("f-pairs").querySelectorAll(".pair")].map((row) => [...row.querySelectorAll("select")].map((s) => s.value)),
  };
}

// ------------------------------------------------------------- sections

function conflictView(r) {
  const out = $("conflict-output");
  out.replaceChildren();
  const list = document.createElement("ul");
  for (const e of r.events) {
    const li = document.createElement("li");
    li.innerHTML = `<b></b> <code></code>: <span></span>`;
    li.querySelector("b").textContent = e.who;
    li.querySelector("code").textContent = e.kind;
    li.querySelector("span").textContent = e.summary;
    list.append(li);
  }
  out.append(Object.assign(document.createElement("h3"), { textContent: "Concurrent changes" }), list);
  const conflicts = document.createElement("ol");
  conflicts.id = "conflict-list";
  for (const c of r.conflicts) {
    const li = document.createElement("li");
    li.dataset.kind = c.kind;
    const sides = c.sides.map((s) => `${s.who}: ${s.kind} ${s.summary}`).join("  vs  ");
    const outcome = c.winner ? `resolved (${r.strategy}): ${c.winner_who} wins; resolution event ${c.resolved_by}` : "unresolved (reject): both stay in the log, replay applies what still fits";
    li.textContent = `${c.kind} on ${c.element} — ${sides} → ${outcome}`;
    conflicts.append(li);
  }
  out.append(Object.assign(document.createElement("h3"), { textContent: `Conflicts (${r.conflicts.length})` }), conflicts);
  const res = document.createElement("p");
  res.id = "conflict-resolution";
  res.dataset.strategy = r.strategy;
  const skipped = r.merged.skipped.map(([id, why]) => `${id}: ${why}`).join("; ");
  res.textContent =
    `Merged schema: ${r.merged.tables.join(", ") || "(empty)"} — hash ${r.merged.hash.slice(0, 24)}…` + (skipped ? `. Not applied: ${skipped}` : "");
  out.append(Object.assign(document.createElement("h3"), { textContent: "Resolution" }), res);
  $("conflict-adopt").hidden = !r.can_adopt;
}

function compatView(r) {
  const out = $("compat-output");
  out.replaceChildren();
  const head = document.createElement("p");
  head.id = "compat-verdict";
  head.dataset.compatible = String(r.compatible);
  head.className = r.compatible ? "ok" : "bad";
  head.textContent = `${r.mode} / ${r.level}, version ${r.from} → ${r.to}: ` + (r.compatible ? "compatible" : `${r.total} finding${r.total === 1 ? "" : "s"}`);
  const list = document.createElement("ul");
  list.id = "compat-findings";
  for (const f of r.findings) {
    const li = document.createElement("li");
    li.dataset.rule = f.rule;
    li.innerHTML = "<code></code> <span></span>";
    li.querySelector("code").textContent = f.rule;
    li.querySelector("span").textContent = `${f.element} ${f.name}${f.old_name ? ` (was ${f.old_name})` : ""}: ${f.detail} [breaks ${f.breaks.join("+")}]`;
    list.append(li);
  }
  out.append(head, list);
}

function metricsView(m) {
  const box = $("metrics-charts");
  box.replaceChildren();
  const series = m.series;
  const x = (w) => w.first_position ?? w.window_start;
  const xLabel = m.window.endsWith("e") ? "record" : "time window";
  const plots = [
    ["tables", (w) => w.tables ?? 0],
    ["properties", (w) => w.properties ?? 0],
    ["complexity", (w) => w.complexity ?? 0],
    ["events per window", (w) => w.events],
    ["breaking changes", (w) => w.breaking],
    ["renames", (w) => w.renames],
  ];
  for (const [title, get] of plots) {
    box.append(lineChart(series.map((w) => ({ x: x(w), y: get(w) })), { title, xLabel }));
  }
  const kinds = Object.entries(m.totals.kinds).map(([label, value]) => ({ label, value }));
  if (kinds.length) box.append(barChart(kinds, { title: "changes by kind" }));
  $("metrics-totals").textContent =
    `${m.totals.events} events in ${series.length} windows of ${m.window}; complexity ${m.schema.complexity} (${m.complexity_formula})`;
}

function memoryView(r) {
  const out = $("memory-output");
  out.replaceChildren();
  const p = document.createElement("p");
  p.id = "memory-result";
  p.dataset.events = r.events;
  p.dataset.growth = r.heap_growth;
  p.textContent =
    `${fmtInt(r.events)} events (${fmtBytes(r.file_bytes)} log${r.generated_s != null ? `, generated in ${r.generated_s.toFixed(1)} s` : ""}) ` +
    `replayed in ${r.seconds.toFixed(2)} s (${fmtInt(Math.round(r.events_per_s))} events/s), ${r.chunks} chunk(s) of at most ${fmtBytes(r.budget_bytes)}; ` +
    `WebAssembly heap ${fmtBytes(r.heap_before)} → ${fmtBytes(r.heap_after)}: grew ${fmtBytes(r.heap_growth)}.`;
  out.append(p);
  out.append(
    barChart(
      [
        { label: "heap before", value: r.heap_before, text: fmtBytes(r.heap_before) },
        { label: "heap peak", value: r.heap_peak ?? r.heap_after, text: fmtBytes(r.heap_peak ?? r.heap_after) },
        { label: "growth", value: Math.max(0, r.heap_growth ?? 0), text: fmtBytes(r.heap_growth) },
        { label: "chunk budget", value: r.budget_bytes, text: fmtBytes(r.budget_bytes) },
      ],
      { title: "Pyodide WebAssembly heap (bytes)", width: 520 },
    ),
  );
  const pre = document.createElement("pre");
  pre.textContent = r.summary;
  out.append(pre);
}

/** Progress of a long Python call (the memory replay), as the worker reports it. */
function showProgress(news) {
  const bar = $("memory-progress");
  bar.hidden = false;
  bar.max = news.total;
  bar.value = news.done;
  bar.textContent = `${news.done} of ${news.total}`;
  bar.dataset.stage = news.stage ?? "replaying";
  $("memory-output").textContent = `${news.stage ?? "replaying"}: ${fmtInt(news.done)} of ${fmtInt(news.total)} events`;
}

function wire() {
  $("ws-form").addEventListener("submit", (event) => {
    event.preventDefault();
    action($("ws-open"), "open workspace", () => openWorkspace($("ws-name").value));
  });
  $("change-kind").addEventListener("change", showFields);
  $("ws-rebuild").addEventListener("click", () =>
    action($("ws-rebuild"), "rebuild", async () => {
      const r = await py("rebuild");
      showStatus(r);
    }),
  );
  $("store-missing-new").addEventListener("click", () =>
    action($("store-missing-new"), "new log", () => openWorkspace($("store-missing").dataset.workspace, { newLog: true })),
  );
  $("ws-strategy").addEventListener("change", () => {
    if (current?.workspace) action($("ws-strategy"), "strategy", async () => showStatus(await py("set_strategy", { strategy: $("ws-strategy").value })));
  });
  $("f-add-pair").addEventListener("click", () => addPair());
  $("change-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("change-result").textContent = "";
    action($("change-apply"), "change", async () => {
      const r = await py("change", changeArgs());
      $("change-result").textContent =
        `record ${r.event.position}: ${r.event.kind} ${r.event.summary}` + writtenText(r.written) +
        (r.applied ? "" : " — recorded in the log, not yet applied to the database (see Workspace)");
      $("change-result").dataset.conflicts = String(r.written?.conflicts.length ?? 0);
      $("change-result").dataset.applied = String(r.applied);
      for (const id of ["f-name", "f-property", "f-new-name", "f-pk", "f-properties", "f-comment"]) $(id).value = "";
      showStatus(r.status);
      announce(r.status);
      await refreshViews({ logToEnd: true });
    });
  });
  $("ddl-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("ddl-result").textContent = "";
    action($("ddl-record"), "DDL", async () => {
      const r = await py("record_ddl", { text: $("ddl-text").value, skip_non_ddl: $("ddl-skip").checked });
      const parts = [`${r.events.length} event(s) recorded`];
      if (r.events.length) parts.push(`records ${r.events[0].position}-${r.events[r.events.length - 1].position}`);
      if (r.unchanged.length) parts.push(`${r.unchanged.length} unchanged (IF [NOT] EXISTS)`);
      if (r.skipped.length) parts.push(`skipped ${r.skipped.join(", ")}`);
      $("ddl-result").textContent = parts.join("; ") + writtenText(r.written);
      $("ddl-result").dataset.events = String(r.events.length);
      showStatus(r.status);
      announce(r.status);
      await refreshViews({ logToEnd: true });
    });
  });
  $("log-next").addEventListener("click", () => {
    logPage += 1;
    action($("log-next"), "log", showLog);
  });
  $("log-prev").addEventListener("click", () => {
    logPage = Math.max(0, logPage - 1);
    action($("log-prev"), "log", showLog);
  });
  $("log-limit").addEventListener("change", () => {
    logCursors = [null];
    logPage = 0;
    showLog().catch((e) => showError(e, "log"));
  });
  $("conflict-run").addEventListener("click", () =>
    action($("conflict-run"), "conflict", async () => {
      conflictView(await py("conflict", { table: $("conflict-table").value, remote: $("conflict-remote").value, strategy: $("conflict-strategy").value }));
    }),
  );
  $("conflict-adopt").addEventListener("click", () =>
    action($("conflict-adopt"), "adopt", async () => {
      const r = await py("adopt");
      $("conflict-adopt").hidden = true;
      const note = document.createElement("p");
      note.id = "conflict-adopted";
      note.dataset.resolutions = String(r.written.resolutions.length);
      note.textContent =
        `Adopted: ${r.written.events.length} concurrent changes and ${r.written.resolutions.length} Merge event(s) written to the log` +
        (r.written.unseen ? ` (after ${r.written.unseen} record(s) of other tabs)` : "") +
        `; position ${r.written.position}.`;
      $("conflict-output").append(note);
      showStatus(r.status);
      announce(r.status);
      await refreshViews({ logToEnd: true });
    }),
  );
  $("compat-run").addEventListener("click", () =>
    action($("compat-run"), "compat", async () => {
      const args = { old: Number($("compat-old").value || 0), mode: $("compat-mode").value, level: $("compat-level").value };
      if ($("compat-new").value !== "") args.new = Number($("compat-new").value);
      compatView(await py("compat", args));
    }),
  );
  $("metrics-run").addEventListener("click", () =>
    action($("metrics-run"), "metrics", async () => metricsView(await py("metrics", { window: $("metrics-window").value.trim() || null }))),
  );
  $("trace-run").addEventListener("click", () =>
    action($("trace-run"), "trace", async () => {
      const r = await py("trace");
      $("trace-summary").textContent = r.summary;
      const link = $("trace-download");
      if (link.href) URL.revokeObjectURL(link.href);
      link.href = URL.createObjectURL(new Blob([r.trace_json], { type: "application/json" }));
      link.hidden = false;
      link.textContent = `Trace Event Format JSON (${fmtBytes(r.trace_json.length)}, open in Perfetto)`;
    }),
  );
  let tampered = null;
  $("tamper-run").addEventListener("click", () =>
    action($("tamper-run"), "tamper", async () => {
      const name = current.workspace;
      const n = current.position;
      if (!n) throw new Error("the log is empty: make a change first");
      const wanted = $("tamper-position").value;
      const position = wanted === "" ? Math.floor(n / 2) : Number(wanted);
      if (tampered) await restoreLine(tampered.name, tampered.position, tampered.original);
      const t = await tamperLine(name, position);
      tampered = { name, ...t };
      const report = await py("verify");
      const out = $("tamper-output");
      out.replaceChildren();
      const what = document.createElement("p");
      what.textContent = `Flipped character ${t.index} of record ${position} in IndexedDB: '${t.before}' → '${t.after}'.`;
      const verdict = document.createElement("p");
      verdict.id = "tamper-verdict";
      verdict.dataset.ok = String(report.ok);
      if (report.ok) {
        verdict.className = "ok";
        verdict.textContent = `Verification passed: ${report.records} records intact.`;
      } else {
        const pb = report.problem;
        verdict.className = "bad";
        verdict.dataset.position = pb.position;
        verdict.textContent = `Verification failed at record ${pb.position}` + (pb.event_id ? ` (event ${pb.event_id})` : "") + `: ${pb.reason}. ${report.records} records before it are intact.`;
      }
      out.append(what, verdict);
      $("tamper-restore").hidden = false;
    }),
  );
  $("tamper-restore").addEventListener("click", () =>
    action($("tamper-restore"), "restore", async () => {
      if (!tampered) return;
      await restoreLine(tampered.name, tampered.position, tampered.original);
      tampered = null;
      const report = await py("verify");
      $("tamper-output").textContent = report.ok ? `Restored: verification passed (${report.records} records).` : `Still damaged: ${report.problem.reason}`;
      $("tamper-restore").hidden = true;
    }),
  );
  $("memory-run").addEventListener("click", () =>
    action($("memory-run"), "memory", async () => {
      $("memory-output").textContent = "generating and replaying…";
      $("memory-cancel").hidden = false;
      delete $("memory-output").dataset.cancelled;
      try {
        memoryView(await py("memory_replay", { events: Number($("memory-events").value) }));
      } catch (error) {
        if (error.name !== "Cancelled") throw error;
        // asked for: not an error; the page is as it was before the replay
        $("memory-output").textContent = `Cancelled: ${error.message}.`;
        $("memory-output").dataset.cancelled = "yes";
      } finally {
        $("memory-cancel").hidden = true;
        $("memory-progress").hidden = true;
      }
      showStatus(await py("status"));
    }),
  );
  $("memory-cancel").addEventListener("click", () => send(PY_CANCEL));
  showFields();
}

// ------------------------------------------------------------- start

try {
  wire();
  const started = new Promise((resolve) => {
    onNews = (news) => {
      if (news.event === "status") $("status").textContent = news.text;
      else if (news.event === "crash") onCrash(news);
      else if (news.event === "progress") showProgress(news);
      else if (news.event === "ready") resolve(news);
    };
  });
  const { version, seconds, python: pythonVersion } = await started;
  $("python-version").textContent = pythonVersion;
  $("package-version").textContent = version;
  $("startup-seconds").textContent = `${seconds.toFixed(2)} s`;
  window.schemalog = {
    py,
    cancel: () => send(PY_CANCEL),
    terminateWorkspace: (workspace) => send(PY_TERMINATE_WORKSPACE, { workspace }),
  };
  $("status").textContent = "ready";
  $("status").dataset.state = "ready";
  $("ws-open").disabled = false;
  showStatus(await py("status"));
  const params = new URL(location.href).searchParams;
  const wanted = params.get("workspace") || (params.get("server") && params.get("log"));
  if (wanted) {
    $("ws-name").value = wanted;
    await action($("ws-open"), "open workspace", () => openWorkspace(wanted));
  }
} catch (error) {
  showError(error, "start-up");
  $("status").textContent = "failed";
  $("status").dataset.state = "failed";
}
