"""Experiments: sweep jobs (skip finished, resume, catch failures, dedupe baselines) and the
sweep report (tables and plots with the published numbers beside ours)."""
