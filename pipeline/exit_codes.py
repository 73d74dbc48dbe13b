"""Process exit codes, one meaning each, shared by every ``invoke`` task.

The on-call runbook (docs/runbook.md) explains each; scripts and CI branch on them.
"""
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0                    # deployed / all checks passed / rollback complete
    FAILED_CHECK = 1          # a preflight check or verification failed: nothing was changed
    USAGE = 2                 # bad input or configuration: nothing was changed
    CHECK_ERROR = 3           # a check could not run (network, timeout): nothing was changed
    LOCKED = 4                # another deploy of this app and environment holds the lock
    ROLLED_BACK = 5           # the release failed verification and was rolled back successfully
    ROLLBACK_FAILED = 6       # a rollback (automatic or on demand) did not complete: page someone
    INTERRUPTED = 130         # Ctrl-C
