"""What each notebook demonstrates: its demos (result objects with numbers), widgets and teaching material, built on the mechanisms below."""
