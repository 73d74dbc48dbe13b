"""A real PostgreSQL server for the tests, from Debian's packages (``apt-get install postgresql``).

``PostgresServer.start(bin_dir)`` runs ``initdb`` and ``pg_ctl start`` on a free loopback port with
trust authentication, as the ``postgres`` OS user when the tests run as root (PostgreSQL refuses
to run as root). ``database()`` creates a fresh database and returns its URL. ``stop()`` stops
the server. When no server binary is installed, :func:`binaries` returns None and the tests that
need it skip, saying so.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.support import free_port

MISSING = ("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's package "
           "`postgresql` (.ci/run does) to run the PostgreSQL path")


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "pg_ctl").exists() and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


@dataclass
class PostgresServer:
    bin_dir: Path
    data: Path
    port: int
    run_as: str | None            # OS user that owns the cluster (None: the current user)

    @classmethod
    def start(cls, bin_dir: Path) -> "PostgresServer":
        """A new cluster in its own directory under the system temp dir (the server user must reach it)."""
        run_as = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="klaviyo-sync-pg-"))
        if run_as:
            owner = pwd.getpwnam(run_as)
            os.chown(root, owner.pw_uid, owner.pw_gid)
        server = cls(bin_dir, root / "data", free_port(), run_as)
        server._run("initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        server._run("pg_ctl", "-D", str(server.data), "-l", str(root / "server.log"), "-w", "-t", "60", "start",
                    "-o", f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off")
        return server

    def database(self) -> str:
        """A new, empty database on this server: its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.data.parent, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}")
