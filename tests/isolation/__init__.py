"""Independent judges of network isolation (not built from the operator's render code)."""
