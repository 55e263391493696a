"""Limits on what a parsed YAML (or JSON) document may be, checked before anything walks it (pure).

PyYAML's ``safe_load`` builds aliases as shared objects, so a few hundred bytes of anchors and aliases
(ten anchors of ten aliases each) stand for 10¹⁰ values: nothing is expanded until code walks the result,
and then it never ends (``repr`` of one such value wrote 722 MB). An alias inside its own anchor
(``&a [*a]``) is a value that holds itself, and a walk of it recurses until ``RecursionError``. Used by
the rule-file loader and the configuration file.
"""

from __future__ import annotations

from typing import Any


def check_shape(document: Any, *, max_nesting: int, max_values: int) -> None:
    """``ValueError`` naming the problem when ``document`` nests deeper than ``max_nesting`` levels, holds
    itself, or has more than ``max_values`` values with its aliases expanded.

    Each distinct mapping or list is counted once and its count reused, so the check takes time in the
    size of the text, not of the expansion.
    """
    counted: dict[int, int] = {}
    open_now: set[int] = set()

    def values(node: Any, depth: int) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in counted:
            return counted[key]
        if key in open_now:
            raise ValueError("a YAML alias refers to the value that holds it")
        if depth >= max_nesting:
            raise ValueError(f"nested deeper than {max_nesting} levels")
        open_now.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1 + sum(values(child, depth + 1) for child in children)
        open_now.discard(key)
        if total > max_values:
            raise ValueError(f"more than {max_values:,} values with YAML aliases expanded")
        counted[key] = total
        return total

    values(document, 0)
