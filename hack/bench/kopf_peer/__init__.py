"""The Kopf peer of the benchmark (issue 15): handlers.py, run by process.py."""
