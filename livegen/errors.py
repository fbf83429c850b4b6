"""The one exception type for user mistakes.

A :class:`LivegenError` carries a single line that names the problem and the fix. The CLI
prints it without a traceback and exits with status 2; everything else is a bug.
"""


class LivegenError(Exception):
    """A user-facing error: bad path, unknown name, corrupt file, missing port."""
