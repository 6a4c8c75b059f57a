"""Adapters: every outside system behind a port."""
