"""What ``invoke deploy`` was asked to do (validated by the engine's first phase)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeployRequest:
    image: str | None = None             # None: the image the manifests name; "" or blanks: refused
    dry_run: bool = False
    skip_checks: tuple[str, ...] = ()
    commit: str | None = None            # None: HEAD of rollback.git_repo
    allow_kill_switch_off: bool = False  # deploy although the kill switch is OFF (recorded; not verified)
    promotion_override: str | None = None  # reason to deploy a digest its promote_from never verified
    config_path: str = "pipeline.toml"   # where promote_from's environment is defined
