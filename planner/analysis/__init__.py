"""Analyses built on the pipeline: why there is no plan, Pareto sets, what-if sweeps, pricing sensitivity."""
