"""Release records kept in the cluster: hash-chained, signed, retained, exportable (docs/audit.md).

``Records.for_environment(config, api_client, secrets)`` is the store of one app and
environment; ``deploy_record`` / ``rollback_record`` build the body of the one record each
command writes; ``Facts`` answers what deploy and rollback need to know.
"""
from pipeline.records.chain import ChainCheck, Problem
from pipeline.records.driver import Driver, RecordExists, RecordNotFound, RecordsError, Stored, VersionConflict
from pipeline.records.facts import Facts, Release, Verdicts, deploy_record, rollback_record
from pipeline.records.memory import MemoryDriver
from pipeline.records.store import ChainBroken, PruneResult, Records, Refused, View

__all__ = ["ChainBroken", "ChainCheck", "Driver", "Facts", "MemoryDriver", "Problem", "PruneResult",
           "RecordExists", "RecordNotFound", "Records", "RecordsError", "Refused", "Release", "Stored", "Verdicts",
           "VersionConflict", "View", "deploy_record", "rollback_record"]
