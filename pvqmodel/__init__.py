"""pvqmodel: performance models of para-virtualized spinlocks."""

__version__ = "0.1.0"
