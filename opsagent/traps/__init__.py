"""SNMP traps and informs (v1, v2c, v3) received by ``opsagent serve`` and turned into events."""
