"""groxpi: a fast caching proxy for the Python Package Index."""

__version__ = "0.1.0"
