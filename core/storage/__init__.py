"""The on-drive format: layout, packs of chunks, manifests, the writer lock. Readable without the index."""
