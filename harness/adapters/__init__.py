"""Implementations under test, behind one interface (:class:`~harness.adapters.base.Implementation`)."""
