"""One configuration, no solver: its memory bill (``planner memory``) and predicted performance (``planner
perf``), serving and training."""
