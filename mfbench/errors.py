"""Errors that the CLI turns into one line on stderr and exit status 2."""


class UsageError(Exception):
    """Bad input from the user: unknown option, malformed config, foreign or corrupt file."""
