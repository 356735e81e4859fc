"""Instruments that make concurrency visible: the event-loop monitor, the naive probe, and the interleaving explorer with its stepped client."""
