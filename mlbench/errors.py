"""Errors the user can fix: each carries one line that says what was wrong and what to do."""


class UsageError(ValueError):
    """A bad input (option, model, dataset, path, param), caught before anything runs."""


class DatasetUnavailable(RuntimeError):
    """A dataset could be neither found locally nor downloaded."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so a run stops the way Ctrl-C stops it: workers
    stopped, every finished job kept, resumable."""


class DiskFull(OSError):
    """The disk filled while a run was writing its folder: the run stops; what finished is
    kept, and ``--resume`` finishes the run once there is space again."""
