// The benchmarks' Pyodide under Node: the local distribution (build/pyodide-dist, our
// wheel in its lock) with bench/out mounted at /data (NODEFS), and Node's process CPU
// (Pyodide's time.process_time is Emscripten's wall clock).
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export async function benchPyodide() {
  const dist = path.join(root, "build", "pyodide-dist");
  const { loadPyodide } = await import(path.join(dist, "pyodide.mjs"));
  const pyodide = await loadPyodide({ indexURL: dist + "/" });
  await pyodide.loadPackage("kuzu-schemalog", {
    messageCallback: () => {},
    errorCallback: (m) => console.error(m),
  });
  pyodide.FS.mkdirTree("/data");
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.join(root, "bench", "out") }, "/data");
  return pyodide;
}

export function hostCpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
