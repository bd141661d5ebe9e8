"""Signals at the edges: seeding the in-memory windows from the history store."""
