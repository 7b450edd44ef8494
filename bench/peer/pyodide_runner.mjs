// One leg of the peer (eventsourcing_replay.py) inside Pyodide under Node, a fresh runtime per call.
// usage: node bench/peer/pyodide_runner.mjs write-sqlite N DB_NAME
//        node bench/peer/pyodide_runner.mjs get-sqlite N DB_NAME AGGREGATE_ID
//        node bench/peer/pyodide_runner.mjs popo N
// Loads the local distribution (build/pyodide-dist) and unpacks the peer's pure wheels from
// bench/out/peer-wheels (put there by `./build.sh bench`, pinned by sha256 in
// bench/peer/pyodide-wheels.txt; checked again here): nothing comes from the network.
// The SQLite file lives in bench/out, mounted at /data with NODEFS: the write leg and the
// get leg are two processes, and the get reads a real file through the OS page cache, as
// CPython's get does (and as our replay in Pyodide reads its log).
// Prints one JSON line. Time: `host_cpu_seconds` is Node's process CPU (user + system, all
// threads) around repository.get; `seconds` is Pyodide's time.process_time, which is
// Emscripten's wall clock. Memory: the WebAssembly heap size, which never shrinks.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const out = path.join(root, "bench", "out");
const wheels = path.join(out, "peer-wheels");
const [mode, n, dbName, aggregateId] = process.argv.slice(2);
const usage = "usage: pyodide_runner.mjs write-sqlite N DB_NAME | get-sqlite N DB_NAME AGGREGATE_ID | popo N";
const known = { "write-sqlite": 3, "get-sqlite": 4, popo: 2 };
if (!(mode in known) || process.argv.length - 2 < known[mode] || !(Number(n) > 0)) {
  console.error(usage);
  process.exit(2);
}

// The pinned hashes: every wheel unpacked must be one of them, and every pin present.
const pinned = new Map();
for (const line of readFileSync(path.join(here, "pyodide-wheels.txt"), "utf8").split("\n")) {
  const m = line.match(/^([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})/);
  if (m) pinned.set(m[3], `${m[1]}==${m[2]}`);
}
let files = [];
try {
  files = readdirSync(wheels).filter((f) => f.endsWith(".whl"));
} catch {
  // reported below with the other missing pins
}
const found = new Map();
for (const f of files) {
  const bytes = readFileSync(path.join(wheels, f));
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (!pinned.has(digest)) {
    console.error(`${wheels}/${f}: sha256 ${digest} is not pinned in bench/peer/pyodide-wheels.txt`);
    process.exit(2);
  }
  found.set(digest, new Uint8Array(bytes));
}
const missing = [...pinned].filter(([digest]) => !found.has(digest)).map(([, name]) => name);
if (missing.length) {
  console.error(`missing in ${wheels}: ${missing.join(", ")} (./build.sh bench downloads them)`);
  process.exit(3);
}

const dist = path.join(root, "build", "pyodide-dist");
const { loadPyodide } = await import(path.join(dist, "pyodide.mjs"));
const pyodide = await loadPyodide({ indexURL: dist + "/" });
for (const bytes of found.values()) pyodide.unpackArchive(bytes, "wheel");
pyodide.FS.mkdirTree("/data");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: out }, "/data");
pyodide.FS.mkdirTree("/peer");
pyodide.FS.writeFile("/peer/eventsourcing_replay.py", readFileSync(path.join(here, "eventsourcing_replay.py")));
pyodide.runPython("import sys; sys.path.insert(0, '/peer')");
// imported before the leg starts: the imports count in neither the time nor the heap growth
const peer = pyodide.pyimport("eventsourcing_replay");
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const heap = () => pyodide._module.HEAP8.length;

let result;
const file = dbName ? `/data/${dbName}` : null;
if (mode === "write-sqlite") {
  const app = peer._app("sqlite", file);
  result = { aggregate_id: peer.write(app, Number(n)).toString() };
  // CPython closes the connection at exit, which checkpoints SQLite's WAL into the file;
  // Node exits without finalizing Python: close here, so both gets read the same kind of file
  app.close();
} else {
  const recorder = mode === "get-sqlite" ? "sqlite" : "popo";
  result = peer
    .get_timed(recorder, Number(n), file, aggregateId ?? null, cpu, heap)
    .toJs({ dict_converter: Object.fromEntries });
  delete result.rss_before_get_kib; // null: no resource module; the heap figures stand in
  delete result.ru_maxrss_kib;
  result.seconds_clock = "wall (Emscripten's time.process_time)";
  result.host_cpu_clock = "node process.cpuUsage (user + system)";
}
result.pyodide = pyodide.version;
result.node = process.versions.node;
result.python = pyodide.runPython("import sys; sys.version.split()[0]");
if (mode !== "write-sqlite") {
  result.sqlite = pyodide.runPython("import sqlite3; sqlite3.sqlite_version");
}
console.log(JSON.stringify(result));
