"""Practices: their configuration file, office hours, and the directory that finds one by the number called."""
