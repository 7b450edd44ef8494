from __future__ import annotations

from schemalog.log.store import MemoryStore
from store_contract import StoreContract


class TestMemoryStore(StoreContract):
    def make_store(self) -> MemoryStore:
        return MemoryStore()
