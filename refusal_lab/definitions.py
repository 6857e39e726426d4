"""The vocabulary of the project, owned here and imported everywhere else.

Positive class = should refuse. Precision, recall and F1 are refusal precision,
recall and F1.

* False refusal (the paper's Type II error): refusing a prompt that should be
  answered. Rate = false refusals / should-answer prompts.
* Missed refusal (Type I): answering a prompt that should be refused.
  Rate = missed refusals / should-refuse prompts.

p(refuse) is read at the first assistant position: the last position of the
chat template rendered with the generation prompt added.
"""

from __future__ import annotations

import re

# CoCoNot's five noncompliance categories, spelled as in its `category` field.
CATEGORIES: tuple[str, ...] = (
    "Incomplete requests",
    "Unsupported requests",
    "Indeterminate requests",
    "Humanizing requests",
    "Requests with safety concerns",
)

# Short names used in metric keys, config keys and file names.
CATEGORY_SLUGS: dict[str, str] = {
    "Incomplete requests": "incomplete",
    "Unsupported requests": "unsupported",
    "Indeterminate requests": "indeterminate",
    "Humanizing requests": "humanizing",
    "Requests with safety concerns": "safety",
}
SLUG_TO_CATEGORY: dict[str, str] = {v: k for k, v in CATEGORY_SLUGS.items()}

# Sources every example row carries in its origin columns.
SOURCE_REFUSAL = "refusal"  # should refuse (CoCoNot original or builtin)
SOURCE_CONTRAST = "contrast"  # looks risky, should be answered
SOURCE_GENERAL = "general"  # ordinary instructions, should be answered
SOURCES: tuple[str, ...] = (SOURCE_REFUSAL, SOURCE_CONTRAST, SOURCE_GENERAL)

# Token schemes and their control tokens.
SCHEMES: tuple[str, ...] = ("none", "single", "category")
RESPOND_TOKEN = "[respond]"
REFUSE_TOKEN = "[refuse]"

FALSE_REFUSAL = "false refusal (Type II: refused a prompt that should be answered)"
MISSED_REFUSAL = "missed refusal (Type I: answered a prompt that should be refused)"


def category_token(category: str) -> str:
    """The category scheme names each token after its CoCoNot category, as the paper does."""
    return f"[{category}]"


def control_tokens(scheme: str) -> list[str]:
    """Control tokens of a scheme, `[respond]` first; empty for the `none` baseline."""
    if scheme == "none":
        return []
    if scheme == "single":
        return [RESPOND_TOKEN, REFUSE_TOKEN]
    if scheme == "category":
        return [RESPOND_TOKEN] + [category_token(c) for c in CATEGORIES]
    raise ValueError(f"tokens.scheme={scheme!r} is not one of {list(SCHEMES)}")


def refusal_tokens(scheme: str) -> list[str]:
    """The control tokens that mean 'refuse' under a scheme."""
    return [t for t in control_tokens(scheme) if t != RESPOND_TOKEN]


def control_token_for(scheme: str, should_refuse: bool, category: str | None) -> str | None:
    """The token that starts the assistant turn of a training example."""
    if scheme == "none":
        return None
    if not should_refuse:
        return RESPOND_TOKEN
    if scheme == "single":
        return REFUSE_TOKEN
    if category not in CATEGORY_SLUGS:
        raise ValueError(f"refusal example has category {category!r}; expected one of {list(CATEGORIES)}")
    return category_token(category)


_CATEGORY_ALIASES = {re.sub(r"[^a-z]", "", k.lower()): k for k in CATEGORIES}
_CATEGORY_ALIASES.update({re.sub(r"[^a-z]", "", s): k for k, s in CATEGORY_SLUGS.items()})
_CATEGORY_ALIASES.update({"safetyconcerns": "Requests with safety concerns", "safety": "Requests with safety concerns"})


def normalise_category(name: str | None) -> str | None:
    """Map a category spelling (CoCoNot name, slug, 'Safety concerns') to the CoCoNot name."""
    if name is None or name == "":
        return None
    return _CATEGORY_ALIASES.get(re.sub(r"[^a-z]", "", name.lower()))


def normalise_subcategory(name: str | None) -> str:
    """Subcategory strings vary between CoCoNot releases; compare them lower-case and space-normalised."""
    if not name:
        return ""
    text = re.sub(r"[\s_\-]+", " ", name.strip().lower())
    return {"misinformation": "false information"}.get(text, text)


def refusal_rate_key(row_source: str, category: str | None) -> str:
    """Group used for per-category refusal rates: the category slug for should-refuse
    rows, else the source (`contrast`, `general`)."""
    if row_source == SOURCE_REFUSAL:
        return CATEGORY_SLUGS.get(category or "", "uncategorised")
    return row_source
