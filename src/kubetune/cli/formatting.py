"""The help formatter every ``kubetune`` command uses (kept free of heavy imports: ``--help`` must be quick)."""

from __future__ import annotations

import argparse

__all__ = ["HelpFormatter"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends an option's default to its help, unless there is nothing to tell or the help already tells it.

    argparse's own formatter adds ``(default: None)`` to every option without a default, and a second
    ``(default: ...)`` after help that already explains the default in words (``--num-cpus``: "default: all").
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        nothing = action.default is None or action.default is False or action.default == []  # not 0: a real default
        if nothing or "default" in text:
            return text
        return super()._get_help_string(action)
