"""Matplotlib figures for result objects. Drawing only: every number comes from the result it is handed.

Imported lazily by the results' ``plot()`` methods, so ``import labkit`` never loads matplotlib.
"""
