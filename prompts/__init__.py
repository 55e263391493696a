"""Prompt templates as files, and the strict loader that renders them (nothing of ours imported).

Each template is a Markdown file in this folder that starts with a small front matter holding its version::

    ---
    version: 3
    ---
    Text with {{variables}} ...

``render`` fills every ``{{name}}``; a variable the template uses but the caller did not give is an error,
never an empty string. Values given but not used are ignored, so one set of values can feed several prompts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_FRONT_MATTER = re.compile(r"\A---\n(?P<head>.*?)\n---\n", re.DOTALL)
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VERSION = re.compile(r"^version:\s*([A-Za-z0-9._-]+)\s*$", re.MULTILINE)


class PromptError(Exception):
    """A template that cannot be loaded, or rendered with the values given."""


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    version: str
    body: str

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(_VARIABLE.findall(self.body))

    def render(self, **values: str) -> str:
        missing = sorted(self.variables - values.keys())
        if missing:
            raise PromptError(f"prompt {self.name!r} v{self.version}: no value for {', '.join(missing)}")
        return _VARIABLE.sub(lambda m: values[m.group(1)], self.body)


def parse(name: str, text: str) -> Prompt:
    """A template from its file text; the front matter must give a version."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise PromptError(f"prompt {name!r}: missing the front matter (---, version: N, ---)")
    version = _VERSION.search(match.group("head"))
    if version is None:
        raise PromptError(f"prompt {name!r}: the front matter has no version")
    return Prompt(name=name, version=version.group(1), body=text[match.end() :].strip() + "\n")


@cache
def load(name: str) -> Prompt:
    """The template ``prompts/<name>.md``."""
    if not re.fullmatch(r"[a-z_]+", name):
        raise PromptError(f"prompt name {name!r} is not a template name")
    try:
        text = resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PromptError(f"no prompt template named {name!r}") from exc
    return parse(name, text)
