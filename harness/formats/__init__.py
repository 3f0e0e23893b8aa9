"""Readers for the artifact formats the hooks write."""
