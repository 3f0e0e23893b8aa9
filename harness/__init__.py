"""Parity harness for Monolith's training hooks: scenarios, goldens, drivers, reports."""
