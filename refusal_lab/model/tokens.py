"""Control tokens: which token starts each response, adding them to a tokenizer
and initialising their embedding rows deliberately.

Rows are initialised by us (never left to `resize_token_embeddings`' defaults):
`mean` sets each new row to the mean of the existing rows; `description` sets it
to the mean embedding of a short text that says what the token means, which
starts the token at a useful probability (measured on SmolLM2: log p([refuse])
-3.4 instead of -20 with mean rows). With tied embeddings the input and output
rows are one parameter; with an untied head the head rows get the same rule
applied to the head matrix.

`tokens.separate_input_rows` exists for trainable=control_tokens on a tied model: there
only the head rows learn (the loss sits at the control position), but tied, the same row is
also what the network reads after a forced token, so a row trained as a classifier direction
makes the model open its reply with a stray word ("[refuse]DSOLVER: I'm sorry..."). The head
gets its own copy (`untie_head`) and each token's input row becomes the embedding of its
description's first word ("Sure" for [respond], "Sorry" for the refusal tokens): the frozen
network never learns what a new token means as input, so it is handed a word it knows how to
continue ("[refuse], I'm unable to assist with that."). A mean of description embeddings,
which the head needs, is no such word: measured on SmolLM2 it made replies open with
fragments ("[refuse]olad, the 19th century...").
"""

from __future__ import annotations

import torch

from refusal_lab.definitions import (
    CATEGORIES,
    REFUSE_TOKEN,
    RESPOND_TOKEN,
    category_token,
    control_token_for,
    control_tokens,
)
from refusal_lab.data.records import Example

DEFAULT_DESCRIPTIONS: dict[str, str] = {
    RESPOND_TOKEN: " Sure, here is a helpful answer",
    REFUSE_TOKEN: " Sorry, I cannot help with that",
    category_token(CATEGORIES[0]): " Sorry, the request is incomplete or unclear",
    category_token(CATEGORIES[1]): " Sorry, I am not able to do that",
    category_token(CATEGORIES[2]): " Sorry, nobody can know the answer to that",
    category_token(CATEGORIES[3]): " Sorry, as an AI I do not have feelings",
    category_token(CATEGORIES[4]): " Sorry, I cannot help with something harmful",
}


def assistant_text(example: Example, scheme: str) -> str:
    """The assistant turn as trained: the control token, then the response with nothing
    in between, so the forced token at inference is followed by what training showed."""
    token = control_token_for(scheme, example.should_refuse, example.category)
    return example.response if token is None else token + example.response


def add_control_tokens(tokenizer, scheme: str) -> dict[str, int]:
    """Add the scheme's tokens as special tokens (never split); returns token -> id."""
    tokens = control_tokens(scheme)
    if tokens:
        tokenizer.add_tokens(tokens, special_tokens=True)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}
    for t, i in ids.items():
        if tokenizer.encode(t, add_special_tokens=False) != [i]:
            raise RuntimeError(f"control token {t!r} does not encode to the single id {i}")
    return ids


def install_control_tokens(model, tokenizer, tokens_cfg) -> dict[str, int]:
    """Add the scheme's tokens to tokenizer and model, set their rows, untie the head if asked;
    returns token -> id. (ZeRO-3 partitions the model first and sets rows its own way.)"""
    token_ids = add_control_tokens(tokenizer, tokens_cfg.scheme)
    resize_and_init(model, tokenizer, token_ids, tokens_cfg.init, dict(tokens_cfg.descriptions))
    if tokens_cfg.separate_input_rows and token_ids:
        untie_head(model)
        set_input_rows_to_lead_words(model, tokenizer, token_ids, dict(tokens_cfg.descriptions))
    return token_ids


@torch.no_grad()
def set_input_rows_to_lead_words(model, tokenizer, token_ids: dict[str, int], descriptions: dict[str, str]) -> None:
    """Each token's input row := the embedding of its description's first word as one token
    ("Sure", "Sorry"); the head rows are left as they are."""
    emb = model.get_input_embeddings().weight
    texts = {**DEFAULT_DESCRIPTIONS, **descriptions}
    for token, idx in token_ids.items():
        lead = tokenizer.encode(texts.get(token, token).strip().split()[0].rstrip(",.!"), add_special_tokens=False)
        if lead and lead[0] < min(token_ids.values()):
            emb[idx] = emb[lead[0]]


@torch.no_grad()
def untie_head(model) -> bool:
    """Give a tied output head its own copy of the embedding matrix (the config says so too,
    so save/load keep them apart); returns whether it was tied."""
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is None or head.weight is not emb.weight:
        return False
    head.weight = torch.nn.Parameter(emb.weight.detach().clone())
    model.config.tie_word_embeddings = False
    model.all_tied_weights_keys = {}  # transformers 5 reads this when saving and re-tying
    return True


@torch.no_grad()
def resize_and_init(
    model, tokenizer, token_ids: dict[str, int], init: str, descriptions: dict[str, str] | None = None
) -> None:
    """Grow the embedding (never shrink a padded one) and set every new row."""
    if not token_ids:
        return
    emb = model.get_input_embeddings()
    old_rows = emb.weight.shape[0]
    original = [i for i in range(min(old_rows, min(token_ids.values())))]  # rows that existed before our tokens
    new_rows = max(old_rows, len(tokenizer))
    if new_rows != old_rows:
        model.resize_token_embeddings(new_rows, mean_resizing=False)
    matrices = [model.get_input_embeddings().weight]
    head = model.get_output_embeddings()
    if head is not None and head.weight.data_ptr() != matrices[0].data_ptr():
        matrices.append(head.weight)
    texts = {**DEFAULT_DESCRIPTIONS, **(descriptions or {})}
    n_orig = len(original)
    for weight in matrices:
        mean_row = weight[:n_orig].float().mean(dim=0)
        for token, idx in token_ids.items():
            row = mean_row
            if init == "description":
                ids = [i for i in tokenizer.encode(texts.get(token, token), add_special_tokens=False) if i < n_orig]
                if ids:
                    row = weight[ids].float().mean(dim=0)
            weight[idx] = row.to(weight.dtype)
    if getattr(model.config, "vocab_size", None) != new_rows:
        model.config.vocab_size = new_rows
