"""Simulated runtime: virtual clock, sessions, monitored sessions, checkpoint saver."""
