"""digest: turns news feeds into a weekly, de-duplicated, sectioned newsletter email."""

__version__ = "0.1.0"
DEFAULT_CONFIG = "feeds.yaml"  # where the configuration is read from, unless told otherwise
