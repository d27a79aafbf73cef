"""The snmp collector against real agents: net-snmp's snmpd (v2c + v3 users) and snmpsim serving
recordings of real Cisco/Huawei/H3C/Juniper/ZTE devices. What opsagent collects must equal what
net-snmp's snmpbulkwalk returns from the same agent; failures are clear and do not delay others."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from opsagent.collectors.base import CollectResult, Outcome
from opsagent.collectors.snmp import SnmpCollector
from opsagent.collectors.snmp.convert import as_text
from opsagent.collectors.snmp.options import SnmpOptions
from opsagent.collectors.snmp.session import DeviceState, get_many, open_session, walk
from opsagent.inventory.model import Asset, CollectorSpec
from tests.peers.ports import LOCALHOST
from tests.peers.snmp import RECORDINGS, Snmpd, Snmpsim, bulkwalk

pytestmark = pytest.mark.peer
IF_TABLE = "1.3.6.1.2.1.2.2"
IFX_TABLE = "1.3.6.1.2.1.31.1.1"
IDENT_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "snmp_ident" / "cases.json"


def v2c(name: str, port: int, community: str, monkeypatch: pytest.MonkeyPatch) -> Asset:
    env = "OPSAGENT_T_SNMP_" + name.upper().replace("-", "_")
    monkeypatch.setenv(env, community)
    return Asset(
        name=name, kind="network", address=LOCALHOST, port=port, credentials={"snmp": {"community": f"env:{env}"}}
    )


def v3(name: str, port: int, user: str, auth: str, apw: str, priv: str | None, ppw: str | None, mp: Any) -> Asset:
    mp.setenv("OPSAGENT_T_V3_AUTH", apw)
    creds: dict[str, Any] = {"user": user, "auth_protocol": auth, "auth_password": "env:OPSAGENT_T_V3_AUTH"}
    if priv and ppw:
        mp.setenv("OPSAGENT_T_V3_PRIV", ppw)
        creds |= {"priv_protocol": priv, "priv_password": "env:OPSAGENT_T_V3_PRIV"}
    return Asset(name=name, kind="network", address=LOCALHOST, port=port, credentials={"snmp": creds})


async def collect(asset: Asset, **options: Any) -> CollectResult:
    spec = CollectorSpec(name="snmp", interval=60, options={"include": ["default"], **options})
    return await SnmpCollector().collect(asset, spec, {})


def reference_value(text: str) -> str:
    """snmpbulkwalk -Oq -Oe -Ot value text → comparable string (strings unquoted, hex compacted)."""
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    return text


def ours(value: Any) -> str:
    if isinstance(value, bytes):
        printable = all(32 <= b < 127 for b in value)
        return value.decode() if printable else " ".join(f"{b:02X}" for b in value)
    return str(value)


@pytest.mark.parametrize("community", ["cisco-c3560", "huawei-s5720", "h3c-comware-7-1-075", "juniper-mx960"])
async def test_walk_equals_snmpbulkwalk_on_real_recordings(
    snmpsim_agent: Snmpsim, community: str, monkeypatch: Any
) -> None:
    asset = v2c(community, snmpsim_agent.port, community, monkeypatch)
    options = SnmpOptions(max_repetitions=10)
    for table in (IF_TABLE, IFX_TABLE):
        state = DeviceState(options.max_repetitions)
        got = await walk(open_session(asset, options, 10), table, 1, state)
        expected = bulkwalk(snmpsim_agent.port, table, ["-v2c", "-c", community])
        assert [oid for oid, _ in got] == list(expected), f"{community} {table}: OID sets differ"
        mismatched = [
            (oid, ours(v), expected[oid])
            for oid, v in got
            if isinstance(v, int | float) and str(v) != reference_value(expected[oid])
        ]
        assert not mismatched, mismatched[:5]
        strings = [(oid, v) for oid, v in got if isinstance(v, bytes) and v.isascii() and v.strip()]
        for oid, v in strings[:50]:
            assert as_text(v) in reference_value(expected[oid]) or reference_value(expected[oid]).startswith(
                ours(v)[:2]
            ), oid


async def test_if_mib_samples_match_snmpbulkwalk(snmpsim_agent: Snmpsim, monkeypatch: Any) -> None:
    asset = v2c("c3560", snmpsim_agent.port, "cisco-c3560", monkeypatch)
    result = await collect(asset)
    assert result.outcome == Outcome.OK, result.message
    hc = bulkwalk(snmpsim_agent.port, "1.3.6.1.2.1.31.1.1.1.6", ["-v2c", "-c", "cisco-c3560"])
    names = bulkwalk(snmpsim_agent.port, "1.3.6.1.2.1.31.1.1.1.1", ["-v2c", "-c", "cisco-c3560"])
    samples = {dict(s.labels)["ifIndex"]: s for s in result.samples if s.name == "ifHCInOctets"}
    assert len(samples) == len(hc) > 20
    for oid, value in hc.items():
        index = oid.rsplit(".", 1)[1]
        sample = samples[index]
        assert sample.value == float(value) and sample.kind == "counter"
        assert dict(sample.labels)["ifName"] == reference_value(names[f"1.3.6.1.2.1.31.1.1.1.1.{index}"])
    statuses = {s.value for s in result.samples if s.name == "ifOperStatus"}
    assert statuses <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0} and statuses


IDENT_CASES = {c["recording"]: c["expected"] for c in json.loads(IDENT_FIXTURE.read_text())}


@pytest.mark.parametrize("community", list(RECORDINGS))
async def test_identification_of_real_devices(snmpsim_agent: Snmpsim, monkeypatch: Any, community: str) -> None:
    """Polled through snmpsim, each recording is identified as its fixture case says (vendor from the
    IANA number, model, OS name/version, serial — tests/fixtures/snmp_ident/cases.json)."""
    result = await collect(v2c(community, snmpsim_agent.port, community, monkeypatch))
    assert result.ok, result.message
    facts = result.facts
    got = {"vendor": facts["vendor"], "model": facts["model"], "os_name": facts["os"]["name"]}
    got |= {"os_version": facts["os"]["version"], "serial": facts.get("serial", "")}
    assert got == IDENT_CASES[RECORDINGS[community]]
    names = bulkwalk(snmpsim_agent.port, "1.3.6.1.2.1.2.2.1.2", ["-v2c", "-c", community])
    assert len(facts["interfaces"]) == len(names)
    one = next(iter(facts["interfaces"].values()))
    assert {"alias", "speed", "mac", "admin_status", "oper_status"} <= set(one)


async def test_snmpd_v2c_host_profile(snmpd_agent: Snmpd, monkeypatch: Any) -> None:
    asset = v2c("snmpd", snmpd_agent.port, snmpd_agent.community, monkeypatch)
    result = await collect(asset, include=["net_snmp"])
    assert result.ok, result.message
    descr = bulkwalk(snmpd_agent.port, "1.3.6.1.2.1.2.2.1.2", ["-v2c", "-c", snmpd_agent.community])
    got = {dict(s.labels)["ifIndex"]: dict(s.labels)["ifDescr"] for s in result.samples if s.name == "ifMtu"}
    assert got == {oid.rsplit(".", 1)[1]: reference_value(v) for oid, v in descr.items()}
    mem = bulkwalk(snmpd_agent.port, "1.3.6.1.4.1.2021.4.5", ["-v2c", "-c", snmpd_agent.community])
    assert [s.value for s in result.samples if s.name == "memTotalReal"] == [float(v) for v in mem.values()]
    assert any(s.name == "hrStorageSize" for s in result.samples)
    assert result.facts["system"]["sysLocation"] == "opsagent-test-lab"


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_get_many_with_a_missing_oid(snmpd_agent: Snmpd, monkeypatch: Any, version: str) -> None:
    """v1 answers noSuchName for the whole GET when one OID is missing: the others still count."""
    asset = v2c("snmpd-get", snmpd_agent.port, snmpd_agent.community, monkeypatch)
    options = SnmpOptions(version=version)
    oids = ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.99.0", "1.3.6.1.2.1.1.6.0"]
    got = await get_many(open_session(asset, options, 10), oids, 1, DeviceState(10))
    assert got == {"1.3.6.1.2.1.1.5.0": snmpd_agent.sys_name.encode(), "1.3.6.1.2.1.1.6.0": b"opsagent-test-lab"}
    nothing = await get_many(
        open_session(asset, options, 10), ["1.3.6.1.2.1.1.98.0", "1.3.6.1.2.1.1.99.0"], 1, DeviceState(10)
    )
    assert nothing == {}
    result = await collect(asset, include=["net_snmp"], version=version)
    assert result.ok and result.facts["system"]["sysLocation"] == "opsagent-test-lab", result.message


@pytest.mark.parametrize("user", ["ops_sha_aes", "ops_sha256_aes256", "ops_sha_noauth"])
async def test_snmpd_v3(snmpd_agent: Snmpd, monkeypatch: Any, user: str) -> None:
    auth, apw, priv, ppw = snmpd_agent.users[user]
    asset = v3("v3", snmpd_agent.port, user, auth, apw, priv, ppw, monkeypatch)
    result = await collect(asset, version="3")
    assert result.ok, f"{result.reason}: {result.message}"
    args = ["-v3", "-u", user, "-l", "authPriv" if priv else "authNoPriv", "-a", auth, "-A", apw]
    args += ["-x", priv, "-X", ppw] if priv and ppw else []
    descr = bulkwalk(snmpd_agent.port, "1.3.6.1.2.1.2.2.1.2", args)
    got = {dict(s.labels)["ifIndex"] for s in result.samples if s.name == "ifInOctets"}
    assert got == {oid.rsplit(".", 1)[1] for oid in descr}


async def test_failures_are_clear_and_do_not_delay_others(snmpd_agent: Snmpd, monkeypatch: Any) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind((LOCALHOST, 0))
    try:
        port = snmpd_agent.port
        auth, _apw, priv, ppw = snmpd_agent.users["ops_sha_aes"]
        cases = {
            "silent": v2c("silent", silent.getsockname()[1], "public", monkeypatch),
            "wrong-community": v2c("wrongc", port, "not-the-community", monkeypatch),
            "good": v2c("good", port, snmpd_agent.community, monkeypatch),
        }
        wrong_key = v3("wrongkey", port, "ops_sha_aes", auth, "WRONG-auth-pass", priv, ppw, monkeypatch)
        opts = {"timeout": 1.0, "retries": 1}
        results = await asyncio.gather(
            *(collect(a, **opts) for a in cases.values()), collect(wrong_key, version="3", **opts)
        )
        by = dict(zip([*cases, "wrong-key"], results, strict=True))
        assert by["good"].ok and by["good"].duration < 1.5, by["good"].duration  # not held up by the 2 s timeouts
        for name in ("silent", "wrong-community"):
            assert by[name].outcome == Outcome.TIMEOUT and by[name].reason == "timeout", by[name]
        assert by["wrong-key"].outcome == Outcome.FAILED and by["wrong-key"].reason == "auth", by["wrong-key"]
        for r in results:
            assert "WRONG-auth-pass" not in r.message and snmpd_agent.community not in r.message
    finally:
        silent.close()


async def test_max_repetitions_adapt_and_lookups_are_cached(snmpsim_agent: Snmpsim, monkeypatch: Any) -> None:
    collector = SnmpCollector()
    asset = v2c("adapt", snmpsim_agent.port, "cisco-c3750", monkeypatch)
    spec = CollectorSpec(name="snmp", interval=60, options={"include": ["if_mib"], "max_repetitions": 200})
    first = await collector.collect(asset, spec, {})
    second = await collector.collect(asset, spec, {})
    assert first.ok and second.ok
    returned = [next(s.value for s in r.samples if s.name == "snmp_scrape_pdus_returned") for r in (first, second)]
    assert returned[1] < returned[0]  # ifName/ifDescr/ifAlias came from the cache the second time
    same = sorted((s.name, s.labels) for s in first.samples if s.name.startswith("if"))
    assert same == sorted((s.name, s.labels) for s in second.samples if s.name.startswith("if"))


def closed_udp_port() -> int:
    """A UDP port on 127.0.0.1 with nothing bound to it: the kernel answers ICMP port-unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("version", ["1", "2c", "3"])
async def test_closed_port_is_refused_not_timeout(snmpd_agent: Snmpd, monkeypatch: Any, version: str) -> None:
    """ICMP port-unreachable is `refused` at once (README), not a `timeout` after 0.00 s."""
    port = closed_udp_port()
    if version == "3":
        auth, apw, priv, ppw = snmpd_agent.users["ops_sha_aes"]
        asset = v3("closed", port, "ops_sha_aes", auth, apw, priv, ppw, monkeypatch)
    else:
        asset = v2c("closed", port, "public", monkeypatch)
    result = await collect(asset, version=version, timeout=5.0, retries=2)
    assert result.outcome == Outcome.FAILED and result.reason == "refused", (result.reason, result.message)
    assert "port unreachable" in result.message
    # no timeout (5 s each, 15 s with the retries) was waited for: the answer was the ICMP error. Bounded by one
    # timeout, not by "fast": on a busy machine an immediate answer has taken over 2 s of wall time.
    assert result.duration < 5.0, result.duration


async def test_closed_port_walk_and_get_raise_refused(monkeypatch: Any) -> None:
    asset = v2c("closed-walk", closed_udp_port(), "public", monkeypatch)
    options = SnmpOptions(timeout=5.0)
    with pytest.raises(ConnectionRefusedError):
        await walk(open_session(asset, options, 10), IF_TABLE, 2, DeviceState(10))
    with pytest.raises(ConnectionRefusedError):
        await get_many(open_session(asset, options, 10), ["1.3.6.1.2.1.1.5.0"], 2, DeviceState(10))


@pytest.mark.parametrize("given", ['"3"', "3"])
async def test_v3_version_in_credentials_as_the_example_puts_it(
    snmpd_agent: Snmpd, monkeypatch: Any, tmp_path: Any, given: str
) -> None:
    """inventory/example.yaml puts ``version`` in ``credentials.snmp``: a v3 user there polls over v3
    (it used to be ignored, and the poll asked for a community)."""
    from opsagent.inventory.importers.native import inventory_from_document
    from opsagent.loader import parse_yaml_file

    auth, apw, priv, ppw = snmpd_agent.users["ops_sha_aes"]
    monkeypatch.setenv("OPSAGENT_T_V3_AUTH", apw)
    monkeypatch.setenv("OPSAGENT_T_V3_PRIV", ppw)
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "assets:\n  - name: v3sw\n    kind: network\n    address: 127.0.0.1\n"
        f"    port: {snmpd_agent.port}\n    credentials:\n"
        f"      snmp: {{version: {given}, user: ops_sha_aes, auth_protocol: {auth},"
        f" auth_password: env:OPSAGENT_T_V3_AUTH, priv_protocol: {priv}, priv_password: env:OPSAGENT_T_V3_PRIV}}\n"
    )
    asset = inventory_from_document(parse_yaml_file(inv)).assets["v3sw"]
    result = await collect(asset, include=["system"])
    assert result.ok, f"{result.reason}: {result.message}"
    assert result.facts["system"]["sysName"] == snmpd_agent.sys_name
    # the same user with a wrong key fails as v3 auth, proving v3 was spoken
    monkeypatch.setenv("OPSAGENT_T_V3_AUTH", "WRONG-auth-pass")
    wrong = await collect(asset, include=["system"], timeout=1.0, retries=0)
    assert wrong.reason == "auth", (wrong.reason, wrong.message)
