"""Every error by which the workflow refuses an input, a setting or a situation.

All derive from :class:`WorkflowInputError`, so a caller can catch "the
workflow said no" in one clause; each kind also derives from the built-in
exception it is a case of (``ValueError``, ``ConnectionError``, ``OSError``),
so code written against those keeps working. Messages name the file or
config key and say how to fix it; nothing half-written is kept.

To add a check: raise one of these (or a new subclass here) with such a message;
:func:`closest` finds the "did you mean" for a misspelt name.
"""

import difflib


def closest(name: str, choices: list[str]) -> str | None:
    """The one of ``choices`` nearest to ``name`` (case aside), if any is near: for "did you mean"."""
    lowered = {choice.lower(): choice for choice in map(str, choices)}
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


class WorkflowInputError(Exception):
    """The workflow refuses this input, config or situation; the message says why and what to do."""


class ConfigError(WorkflowInputError, ValueError):
    """A config value cannot work as written."""


class ClusterConfigError(ConfigError):
    """The ``dask`` section of config cannot work as written."""


class SchedulerUnreachable(WorkflowInputError, ConnectionError):
    """No Dask scheduler answered at the configured address in time, or it went away."""


class DownloadError(WorkflowInputError, RuntimeError):
    """A raw file could not be fetched and verified; nothing was kept."""


class NotFound(DownloadError):
    """The server says the file is not there (HTTP 403, 404 or 410)."""


class EncodingError(WorkflowInputError, ValueError):
    """No encoding decodes the table (or the configured one does not)."""


class TableError(WorkflowInputError, ValueError):
    """The table cannot be averaged as configured."""


class RasterError(WorkflowInputError, ValueError):
    """The bands cannot give an index as configured."""


class GridMismatch(RasterError):
    """The bands are not on one grid (CRS, shape and transform)."""


class DiskFullError(WorkflowInputError, OSError):
    """The disk filled up while writing a product; the partial file was removed."""
