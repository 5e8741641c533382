"""envcheck's version: one place, read by the reports and the packaging metadata."""

__version__ = "0.1.0"
