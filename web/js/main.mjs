// The demo page: start Python with our package and show what loaded.
import { startPython } from "./python.mjs";

const $ = (id) => document.getElementById(id);

function showError(error) {
  const box = $("error");
  box.hidden = false;
  box.textContent = `${error.name ?? "Error"}: ${error.message ?? error}`;
  $("status").textContent = "failed";
  $("status").dataset.state = "failed";
}

window.addEventListener("unhandledrejection", (event) => showError(event.reason));

try {
  const { pyodide, version, seconds } = await startPython({
    onStatus: (text) => ($("status").textContent = text),
  });
  $("python-version").textContent = pyodide.runPython("import sys; sys.version.split()[0]");
  $("package-version").textContent = version;
  $("startup-seconds").textContent = `${seconds.toFixed(2)} s`;
  $("status").textContent = "ready";
  $("status").dataset.state = "ready";
  window.schemalog = { pyodide };
} catch (error) {
  showError(error);
}
