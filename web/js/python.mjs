// Starts Pyodide from the local distribution (../pyodide/, no CDN) and
// installs kuzu-schemalog with micropip from the same place.
// The one JS module that knows where Pyodide and our wheel live.

const PYODIDE_BASE = new URL("../../pyodide/", import.meta.url).href;

/**
 * @param {{onStatus?: (text: string) => void}} [options]
 * @returns {Promise<{pyodide: any, version: string, seconds: number}>}
 */
export async function startPython(options = {}) {
  const status = options.onStatus ?? (() => {});
  const started = performance.now();
  status("loading Pyodide");
  const { loadPyodide } = await import(PYODIDE_BASE + "pyodide.mjs");
  const pyodide = await loadPyodide({ indexURL: PYODIDE_BASE });
  status("loading micropip");
  await pyodide.loadPackage("micropip");
  status("installing kuzu-schemalog");
  const micropip = pyodide.pyimport("micropip");
  // index_urls=[]: never fall back to PyPI; the lock file names our wheel.
  await micropip.install.callKwargs("kuzu-schemalog", { index_urls: [] });
  const version = pyodide.runPython("import schemalog; schemalog.__version__");
  return { pyodide, version, seconds: (performance.now() - started) / 1000 };
}
