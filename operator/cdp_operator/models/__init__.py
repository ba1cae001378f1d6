"""Validated specs, the tier table, the build-configuration table, naming and labels. No I/O."""
