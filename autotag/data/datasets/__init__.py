"""Data sets: one folder each (layout, reader, download, synthetic twin) and their registry."""
