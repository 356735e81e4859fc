"""``python -m labkit``: doctor, author, review, progress, demo and reset."""
