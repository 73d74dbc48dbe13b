"""The hash-chained audit log (``log``) and what ``invoke history`` reads from it (``history``)."""
from pipeline.audit.log import (GENESIS, KINDS, AuditError, AuditLog, VerifyResult, actor_from, canonical,
                                default_path, entries, entry_hash, verify)

__all__ = ["GENESIS", "KINDS", "AuditError", "AuditLog", "VerifyResult", "actor_from", "canonical",
           "default_path", "entries", "entry_hash", "verify"]
