"""SNMP: polling (gufo-snmp), profiles as content, identification facts."""

from opsagent.collectors.snmp.collector import SnmpCollector

__all__ = ["SnmpCollector"]
