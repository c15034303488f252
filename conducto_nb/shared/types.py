"""Flags written as text, read the way Conducto 0.1.x read them (its `shared.types.Bool`):
scripts pass `stop_on_error="False"` and set `CONDUCTO_...=0` in the environment, so a flag
given as a string must mean what it meant there."""

from __future__ import annotations

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "parse_bool", "strict_bool"]

#: The strings Conducto read as false (compared stripped and lower-cased); any other is true.
FALSE_WORDS = frozenset({"", "0", "n", "none", "false", "f", "0.0"})
#: The strings a node parameter accepts as true: Conducto's usual spellings of it.
TRUE_WORDS = frozenset({"1", "y", "yes", "true", "t", "1.0"})


def parse_bool(value: str | None) -> bool:
    """Conducto's reading of a flag's text: unset, "", "0", "n", "none", "false", "f" and
    "0.0" (any case, spaces around ignored) are false; anything else is true."""
    return value is not None and value.strip().lower() not in FALSE_WORDS


def strict_bool(value: object) -> bool | None:
    """A node parameter's flag: a bool, 0 or 1, or one of Conducto's true or false words;
    None when `value` is none of these (the caller says what was expected)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in FALSE_WORDS or word in TRUE_WORDS:
            return word in TRUE_WORDS
    return None
