"""Async Recovery Lab toolkit."""
