from __future__ import annotations

from pathlib import Path

import pytest

from opsagent.config import AgentConfig, load_config, shipped_content_root
from opsagent.errors import ConfigError


def test_defaults_need_no_file(tmp_path: Path) -> None:
    cfg = load_config(environ={"OPSAGENT_HOME": str(tmp_path)})
    assert cfg.store_url == f"sqlite:///{tmp_path / 'opsagent.db'}"
    assert cfg.listen_address == ("127.0.0.1", 9810)
    assert cfg.seed_files == [shipped_content_root() / "inventory" / "local.yaml"]
    assert (shipped_content_root() / "collectors" / "local" / "default.yaml").is_file()


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    (tmp_path / "opsagent.yaml").write_text(
        "store: sqlite:////from/file.db\nlisten: 127.0.0.1:1111\ncontent_roots: [extra]\n"
    )
    env = {"OPSAGENT_HOME": str(tmp_path), "OPSAGENT_LISTEN": "127.0.0.1:2222"}
    cfg = load_config(environ=env)
    assert cfg.store == "sqlite:////from/file.db" and cfg.listen == "127.0.0.1:2222"
    assert cfg.content_roots == [tmp_path / "extra"]
    cfg = load_config(environ=env | {"OPSAGENT_STORE": "postgresql+psycopg://x@h/db"}, overrides={"store": "sqlite://"})
    assert cfg.store == "sqlite://"


def test_bad_config_file_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("listen: nowhere\nmax_concurrent_polls: 0\nstroe: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    text = str(info.value)
    assert f"{path}:1: listen:" in text and f"{path}:2: max_concurrent_polls:" in text
    assert f"{path}:3: stroe: Extra inputs are not permitted" in text


def test_listen_parsing() -> None:
    assert AgentConfig(listen="[::1]:9810").listen_address == ("::1", 9810)
    with pytest.raises(ValueError):
        AgentConfig(listen="127.0.0.1")
