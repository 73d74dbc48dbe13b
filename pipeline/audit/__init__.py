"""The local JSONL audit log (``log``, now a legacy format the record store imports) and history rows (``history``)."""
from pipeline.audit.log import (GENESIS, KINDS, AuditError, AuditLog, VerifyResult, actor_from, canonical,
                                default_path, entries, entry_hash, verify)

__all__ = ["GENESIS", "KINDS", "AuditError", "AuditLog", "VerifyResult", "actor_from", "canonical",
           "default_path", "entries", "entry_hash", "verify"]
