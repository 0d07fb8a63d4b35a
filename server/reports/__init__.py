"""Reports: zero-out figures (清零), and later quarterly analysis, digests and exports."""
