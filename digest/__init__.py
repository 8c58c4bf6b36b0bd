"""digest: turns news feeds into a weekly, de-duplicated, sectioned newsletter email."""

__version__ = "0.1.0"
