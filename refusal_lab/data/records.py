"""The one row type every loader produces: prompt, response and origin columns."""

from __future__ import annotations

import dataclasses
import hashlib

from refusal_lab.definitions import SOURCE_REFUSAL


@dataclasses.dataclass(frozen=True)
class Example:
    prompt: str  # the user turn
    response: str  # the assistant turn, without control token
    source: str  # refusal | contrast | general
    category: (
        str | None
    )  # CoCoNot category name for training rows, a benchmark's own category for eval-set rows (None: none)
    subcategory: str  # normalised CoCoNot subcategory, "" if none
    should_refuse: bool  # the label; the positive class
    origin: str  # dataset the row came from, e.g. "builtin", "coconot_eval.jsonl"
    id: str = ""  # stable id: the dataset's own, else a hash of the prompt
    history: tuple = ()  # earlier turns of a multi-turn row: ((role, content), ...) before `prompt`

    def __post_init__(self):
        if not self.id:
            object.__setattr__(self, "id", prompt_id(self.origin, self.prompt))
        if self.should_refuse != (self.source == SOURCE_REFUSAL):
            raise ValueError(
                f"example {self.id}: should_refuse={self.should_refuse} contradicts source={self.source!r}"
            )

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def messages(self) -> list[dict]:
        """The chat up to and including the user turn the model answers."""
        return [{"role": r, "content": c} for r, c in self.history] + [{"role": "user", "content": self.prompt}]


def prompt_id(origin: str, prompt: str) -> str:
    return hashlib.sha1(f"{origin}\0{prompt}".encode()).hexdigest()[:12]
