"""MagnaTagATune: its on-disk layout, reader, download and synthetic twin."""
