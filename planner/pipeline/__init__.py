"""From a scenario to verified plans: prepare (catalog, model, candidates) -> integer problem -> CP-SAT -> plan ->
verification, for serving, training and procurement scenarios (``planner.api`` dispatches on the kind)."""
