"""opsagent: infrastructure monitoring and ops-runbook agent."""

__version__ = "0.1.0"
