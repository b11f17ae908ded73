"""A user's own catalogue: a CSV of audio paths and tags."""
