"""Compiled reads: root lists whose whole selection is rendered by one SQL statement."""
