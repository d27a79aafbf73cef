"""Pure SNMP logic: index parsing, value rendering, lookups, identification from sysDescr/sysObjectID."""

from __future__ import annotations

from opsagent.collectors.snmp.convert import metric_samples, parse_index
from opsagent.collectors.snmp.ident import os_of, vendor_of
from opsagent.collectors.snmp.options import Index, Metric


def test_parse_index_types() -> None:
    idx = [Index(labelname="a", type="gauge"), Index(labelname="mac", type="PhysAddress48")]
    labels, subs = parse_index("7.0.17.34.51.68.85", idx) or ({}, {})
    assert labels == {"a": "7", "mac": "00:11:22:33:44:55"} and subs["a"] == "7"
    assert parse_index("7", idx) is None
    text = parse_index("3.102.111.111", [Index(labelname="n", type="DisplayString")])
    assert text is not None and text[0] == {"n": "foo"}


def test_metric_samples_with_lookup_and_types() -> None:
    lk = {"labels": ["ifIndex"], "labelname": "ifName", "oid": "1.3.6.1.2.1.31.1.1.1.1"}
    m = Metric(name="ifHCInOctets", oid="1.3.6.1.2.1.31.1.1.1.6", type="counter",
               indexes=[Index(labelname="ifIndex")], lookups=[lk])  # fmt: skip
    data = {"1.3.6.1.2.1.31.1.1.1.6": {"1": 10, "2": 2**63}, "1.3.6.1.2.1.31.1.1.1.1": {"1": b"Gi0/1\x00"}}
    out = {s.labels: s.value for s in metric_samples(m, data)}
    assert out == {(("ifIndex", "1"), ("ifName", "Gi0/1")): 10.0, (("ifIndex", "2"),): float(2**63)}


def test_vendor_and_os() -> None:
    assert vendor_of("1.3.6.1.4.1.2011.2.23.462") == "Huawei" and vendor_of(".1.3.6.1.4.1.9.1.516") == "Cisco"
    assert vendor_of("1.3.6.1.4.1.999999.1") == "enterprise 999999" and vendor_of("") == ""
    cisco = "Cisco IOS Software, C3560 Software (C3560-IPBASEK9-M), Version 12.2(55)SE3, RELEASE SOFTWARE (fc1)"
    assert os_of(cisco) == ("IOS", "12.2(55)SE3")
    vrp = "S5720-36C-EI-AC\r\nHuawei Versatile Routing Platform Software\r\n"
    vrp += " VRP (R) software,Version 5.160 (S5720 V200R007C00SPC500)"
    assert os_of(vrp) == ("VRP", "5.160 (S5720 V200R007C00SPC500)")
    h3c = "H3C Comware Platform Software, Software Version 7.1.075, Release 7751P01"
    assert os_of(h3c) == ("Comware", "7.1.075, Release 7751P01")


def test_metric_samples_column_wise_keeps_odd_rows_and_reuses_labels() -> None:
    """A column converted at once: strings that are numbers, NUL-padded numbers, non-numbers and
    rows whose index does not fit come out as value by value; the label cache serves the next poll."""
    m = Metric(name="ifMtu", oid="1.3.6.1.2.1.2.2.1.4", indexes=[Index(labelname="ifIndex")], scale=2.0)
    data: dict[str, dict[str, int | bytes | None]] = {"1.3.6.1.2.1.2.2.1.4": {"1": 1500, "2": b"9000\x00"}}
    data["1.3.6.1.2.1.2.2.1.4"] |= {"3": b"n/a", "4": None, "x.1": 7}
    cache: dict[object, object] = {}
    first = metric_samples(m, data, cache)
    assert [(s.labels, s.value) for s in first] == [((("ifIndex", "1"),), 3000.0), ((("ifIndex", "2"),), 18000.0)]
    clean = {"1.3.6.1.2.1.2.2.1.4": {"1": 1400, "2": 1500}}
    again, twice = metric_samples(m, clean, cache), metric_samples(m, clean, cache)
    assert [s.value for s in again] == [2800.0, 3000.0]
    assert all(a.labels is b.labels for a, b in zip(again, twice, strict=True))  # one label tuple per row
