"""The lease port (``port``) and the file lease adapter (``file``); the Web
Locks lease lives in ``schemalog.browser.lease``.
"""
