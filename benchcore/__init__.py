"""benchcore: measure how fast a backend reads one small record from each storage tier."""

__version__ = "0.1.0"
