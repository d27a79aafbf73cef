"""The local collector against this very machine, cross-checked with the kernel's own files."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from opsagent.collectors.base import Sample
from opsagent.collectors.local import LocalCollector, LocalOptions
from opsagent.inventory.model import Asset, CollectorSpec


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return LocalCollector().collect_sync("me", LocalOptions())


def by_name(samples: list[Sample], name: str) -> list[Sample]:
    return [s for s in samples if s.name == name]


def test_node_exporter_names_types_and_labels(result) -> None:  # type: ignore[no-untyped-def]
    assert result.ok
    cpu = by_name(result.samples, "node_cpu_seconds_total")
    assert {dict(s.labels)["mode"] for s in cpu} >= {"user", "system", "idle", "iowait"}
    assert {dict(s.labels)["cpu"] for s in cpu} == {str(i) for i in range(psutil.cpu_count())}
    assert all(s.kind == "counter" for s in cpu)
    load1 = by_name(result.samples, "node_load1")[0]
    assert abs(load1.value - os.getloadavg()[0]) < 2.0
    root = [s for s in by_name(result.samples, "node_filesystem_size_bytes") if dict(s.labels)["mountpoint"] == "/"]
    assert root and set(dict(root[0].labels)) == {"device", "fstype", "mountpoint"}
    st = os.statvfs("/")
    assert root[0].value == st.f_blocks * st.f_frsize
    for name in (
        "node_network_receive_bytes_total",
        "node_boot_time_seconds",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_memory_SwapTotal_bytes",
        "node_uname_info",
        "node_processes_pids",
        "node_filesystem_avail_bytes",
        "node_filesystem_files_free",
    ):
        assert by_name(result.samples, name), name


def test_memory_agrees_with_proc_meminfo(result) -> None:  # type: ignore[no-untyped-def]
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = next(int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:"))
    assert by_name(result.samples, "node_memory_MemTotal_bytes")[0].value == total_kb * 1024
    assert result.facts["memory"]["total_bytes"] == total_kb * 1024


def test_facts(result) -> None:  # type: ignore[no-untyped-def]
    facts = result.facts
    assert facts["hostname"] == os.uname().nodename
    assert facts["kernel"]["release"] == os.uname().release
    assert facts["cpu"]["count"] == psutil.cpu_count()
    assert facts["os"]["id"]  # from /etc/os-release


def test_excludes_follow_options() -> None:
    res = LocalCollector().collect_sync("me", LocalOptions(mount_points_exclude="^/$", netdev_exclude="^lo$"))
    assert not [s for s in res.samples if dict(s.labels).get("mountpoint") == "/"]
    assert not [s for s in res.samples if dict(s.labels).get("device") == "lo"]


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        LocalOptions.model_validate({"fs_type_exclude": "x"})


async def test_async_collect_runs_in_a_thread() -> None:
    res = await LocalCollector().collect(Asset(name="me"), CollectorSpec(name="local"), {})
    assert res.asset == "me" and res.collector == "local" and res.samples


def test_network_up_follows_operstate_like_node_exporter(tmp_path: Path) -> None:
    """node_network_up is 1 only for operstate "up" (lo is "unknown": 0), read from sysfs; a device
    with no sysfs entry has none, as from node_exporter and the SSH collector's check (psutil's admin
    flag is the fallback only where there is no /proc at all)."""
    devices = sorted(psutil.net_io_counters(pernic=True))
    sys_root = tmp_path / "sys"
    states = {}
    for i, device in enumerate(devices[1:], start=1):  # the first device gets no sysfs entry
        state = ("up", "down", "unknown", "lowerlayerdown")[i % 4]
        (sys_root / "class" / "net" / device).mkdir(parents=True)
        (sys_root / "class" / "net" / device / "operstate").write_text(state + "\n")
        states[device] = 1.0 if state == "up" else 0.0
    result = LocalCollector().collect_sync("here", LocalOptions(sys_path=str(sys_root)))
    up = {dict(s.labels)["device"]: s.value for s in result.samples if s.name == "node_network_up"}
    for device, expected in states.items():
        assert up[device] == expected, device
    assert devices[0] not in up
    real = LocalCollector().collect_sync("here", LocalOptions())
    real_up = {dict(s.labels)["device"]: s.value for s in real.samples if s.name == "node_network_up"}
    assert real_up.get("lo") == 0.0  # operstate "unknown", though psutil calls lo up
