"""Questions asked of finished runs: paired comparison, slices, confusion cells, label audit, model cards and their figures."""
