"""Telephone IVR: call flow, TwiML and call records."""
