"""Chat-template encoding shared by training and scoring.

The assistant turn of a training example is rendered by the model's own chat
template; the prompt rendered with the generation prompt must be an exact prefix
of it, so the position where scoring reads p(refuse) is the position where
training put the control token. `encode_example` checks this for every example.
"""

from __future__ import annotations

from dataclasses import dataclass

from refusal_lab.data.records import Example
from refusal_lab.model.tokens import assistant_text

IGNORE = -100


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    prompt_len: int  # index of the first assistant token = where the control token sits


class TemplateMismatch(RuntimeError):
    pass


def encode_example(
    tokenizer, example: Example, scheme: str, loss_on: str, max_length: int, control_only: bool = False
) -> Encoded | None:
    """Token ids and labels of one example; None if the prompt alone fills max_length."""
    messages = [
        {"role": "user", "content": example.prompt},
        {"role": "assistant", "content": assistant_text(example, scheme)},
    ]
    full_text = tokenizer.apply_chat_template(messages, tokenize=False)
    full = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    prefix = prompt_ids(tokenizer, example.prompt)
    if full[: len(prefix)] != prefix:
        raise TemplateMismatch(
            f"the chat template renders the prompt of example {example.id} differently with and without "
            "the assistant turn, so the scoring position would not be the trained one"
        )
    if len(prefix) + 1 > max_length:
        return None
    full = full[:max_length]
    if control_only:  # only the control token's prediction carries loss
        labels = [IGNORE] * len(full)
        labels[len(prefix)] = full[len(prefix)]
    elif loss_on == "completion":
        labels = [IGNORE] * len(prefix) + full[len(prefix) :]
    else:
        labels = list(full)
    return Encoded(input_ids=full, labels=labels, prompt_len=len(prefix))
