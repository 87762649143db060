"""Independent verification: every plan recomputed from the scenario through the models, not the solver's rows.
A violation is a bug in the planner (``VerificationError``)."""
