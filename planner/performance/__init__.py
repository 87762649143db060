"""Pure time models: links and collectives, serving (prefill, decode, batching, queueing) and training step time.

Like ``planner.memory``: formulas with their sources, no solver and no I/O.
"""
