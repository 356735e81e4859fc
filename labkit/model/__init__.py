"""The stand-in model the lessons call: a sync ``chat()`` that blocks, its async twin, CPU-bound work, and the process pool that offloads it."""
