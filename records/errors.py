"""The one base of every error a user can fix: the message says what to do. The command line
(cli.py) turns any of them into a one-line message and exit status 1, in one place."""

from __future__ import annotations


class AdsError(Exception):
    """An error a user can fix (a bad file, setting, model spec, run id ...); the message says how."""
