"""Shared mailbox: inbound parsing, threading, drafts, approval and send guards."""
