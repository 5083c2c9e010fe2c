"""The Chroma instruction memory bank: ``MemoryBank(path, embedder_spec).add(rows) / .search(query, k)``."""

from .bank import MemoryBank, read_rows

__all__ = ["MemoryBank", "read_rows"]
