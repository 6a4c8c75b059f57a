"""support: contact-center backend for hometown-tax (ふるさと納税) donation operations."""

__version__ = "0.1.0"
