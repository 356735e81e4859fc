"""Documents and tasks in Redis: the store, completion, reconcilers, recovery, heartbeats, worker processes and the chaos run.

Mechanisms only: nothing here imports a lesson, matplotlib or ipywidgets.
"""
