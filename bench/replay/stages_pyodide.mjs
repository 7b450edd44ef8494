// bench/replay/stages.py inside Pyodide under Node: where replay's time goes there.
// usage: node bench/replay/stages_pyodide.mjs LOG_FILE_NAME [RUNS]   (a log in bench/out)
// Pyodide's time.process_time is Emscripten's wall clock, so the stages are timed
// by Node's process CPU (user + system), passed in as the clock.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchPyodide, hostCpu } from "./pyodide_env.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const [logName, runs = "2"] = process.argv.slice(2);
if (!logName) {
  console.error("usage: stages_pyodide.mjs LOG_FILE_NAME [RUNS]");
  process.exit(2);
}
const pyodide = await benchPyodide();
globalThis.hostCpu = hostCpu;
// stages.py's functions, without running its main (no argv here)
const source = readFileSync(path.join(here, "stages.py"), "utf8");
pyodide.runPython(source.replace('if __name__ == "__main__":', "if False:"), {
  globals: pyodide.globals,
});
const out = pyodide.runPython(`
import json, js
json.dumps(stages("/data/${logName}", ${Number(runs)}, js.hostCpu))
`);
console.log(out);
