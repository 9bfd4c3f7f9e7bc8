"""Hatch build hook: ship the prebuilt JupyterLab extension in wheels, but not in editable installs.

A standard wheel maps `agent_magic/labextension` (built by hatch-jupyter-builder) to
`share/jupyter/labextensions/agent-magic`, where JupyterLab finds prebuilt extensions. An editable
install (`make setup`) leaves that folder alone: pip would otherwise own it and delete it on every
reinstall, under `make labextension`'s copy.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUILT = "agent_magic/labextension"
SHARED = "share/jupyter/labextensions/agent-magic"


class LabExtensionDataHook(BuildHookInterface):
    """Adds the built extension to a standard wheel's shared data."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Called by hatchling before a build; `version` is "standard" or "editable"."""
        if self.target_name == "wheel" and version == "standard":
            build_data["shared_data"][BUILT] = SHARED
