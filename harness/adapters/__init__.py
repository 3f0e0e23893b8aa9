"""Implementations under test, behind one interface (``base.Implementation``)."""
