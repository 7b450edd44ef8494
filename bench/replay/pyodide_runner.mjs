// One replay-benchmark measurement inside Pyodide under Node (fresh runtime per call).
// usage: node bench/replay/pyodide_runner.mjs KIND LOG_FILE_NAME BUDGET
// Loads the local distribution (build/pyodide-dist, our wheel in its lock), mounts
// bench/out at /data with NODEFS, runs bench/replay/measure.py's measure() and prints
// one JSON line with the WebAssembly heap size before and after, and the allocator's
// peak (dlmalloc's max footprint: what it took from the heap at most; the heap itself
// grows in steps of a fifth of its size or more, so its growth overstates the peak).
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchPyodide, hostCpu } from "./pyodide_env.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const [kind, logName, budget] = process.argv.slice(2);
if (!kind || !logName || !budget) {
  console.error("usage: pyodide_runner.mjs KIND LOG_FILE_NAME BUDGET");
  process.exit(2);
}
const pyodide = await benchPyodide();
const heap = () => pyodide._module.HEAP8.length;
const footprint = () => pyodide._module._malloc_footprint();
const maxFootprint = () => pyodide._module._malloc_max_footprint();
pyodide.runPython(readFileSync(path.join(here, "measure.py"), "utf8"), {
  globals: pyodide.globals,
});
pyodide.runPython("import schemalog.log.replay, schemalog.log.store.ndjson");
const before = heap();
const footprintBefore = footprint();
const measure = pyodide.globals.get("measure");
const result = measure(kind, `/data/${logName}`, Number(budget), false, hostCpu).toJs({
  dict_converter: Object.fromEntries,
});
const after = heap();
const footprintPeak = maxFootprint();
const compat = pyodide.runPython(
  "from schemalog import _compat; (_compat.IN_PYODIDE, _compat.wasm_heap_bytes())"
).toJs();
const out = {
  ...result,
  wasm_heap_before: before,
  wasm_heap_after: after,
  wasm_heap_growth: after - before,
  malloc_footprint_before: footprintBefore,
  malloc_peak_growth: footprintPeak - footprintBefore,
  compat_in_pyodide: compat[0],
  compat_wasm_heap_bytes: compat[1],
  pyodide: pyodide.version,
  node: process.versions.node,
  python: pyodide.runPython("import sys; sys.version.split()[0]"),
};
console.log(JSON.stringify(out));
