"""Candidates: every structurally valid replica shape (serving) or layout (training) with the integers the
solver needs, from the memory and time models, and the reasons the others were rejected."""
