"""Runbooks: YAML procedures for routine inspection (巡检) and emergency response (应急)."""
