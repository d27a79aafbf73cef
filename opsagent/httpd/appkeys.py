"""Keys of what the aiohttp application carries for every route."""

from __future__ import annotations

from aiohttp import web

from opsagent.config import AgentConfig

CONFIG_KEY = web.AppKey("agent_config", AgentConfig)
