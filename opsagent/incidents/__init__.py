"""Incidents: one open incident per alert fingerprint, with an append-only event log."""
