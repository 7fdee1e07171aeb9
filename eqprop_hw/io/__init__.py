"""Files: data sets, params, checkpoints, plots, bounded readers and atomic writes."""
