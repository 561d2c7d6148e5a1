"""netwarden: finds, fixes and watches host network settings that break long-lived HTTPS clients."""

__version__ = "0.1.0"
