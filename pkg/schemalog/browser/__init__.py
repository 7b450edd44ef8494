"""Layer 6, the browser: everything that talks to JS (the bridge, the IndexedDB
store, the Web Locks lease, the kuzu-wasm backend), the workspace and the
demo page's API. Importing this package imports no ``js``; each module does
when used in Pyodide.
"""
