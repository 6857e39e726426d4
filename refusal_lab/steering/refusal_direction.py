"""Training-free refusal steering with the refusal direction (Arditi et al. 2024).

r = mean residual-stream activation at the last prompt position on should-refuse
prompts minus the mean on should-answer prompts, at one layer (the input of decoder
layer `layer`, "resid_pre"). Two interventions, both forward hooks on a Hugging Face
decoder-only model (Llama-shaped: model.model.embed_tokens, model.model.layers[i]
with .self_attn and .mlp):

* directional ablation: x <- x - (x . r_hat) r_hat on everything that writes to the
  residual stream (token embeddings, every attention and MLP output), at every layer
  and position. The stream then never holds a component along r_hat (the same model
  as orthogonalising the writing weights).
* activation addition: x <- x + alpha * r_hat at the input of one layer, at every
  position; alpha > 0 pushes towards refusal, alpha < 0 away from it.

Hooks are context managers: the model is unchanged after the `with` block.
"""

from __future__ import annotations

import contextlib

import torch

from refusal_lab.model.chat import prompt_ids
from refusal_lab.evaluation.scoring import _left_padded


def decoder_layers(model):
    inner = getattr(model, "model", model)
    return inner.layers


def default_layer(model) -> int:
    """The middle layer (Arditi et al.'s usual region); `choose_layer` picks one on held-out prompts."""
    return len(decoder_layers(model)) // 2


def layer_separation(refuse_states: torch.Tensor, answer_states: torch.Tensor) -> list[float]:
    """Per layer input (index i = input of decoder layer i), the AUROC with which the projection on
    the difference of means fitted on the even-indexed prompts separates the odd-indexed ones (pure)."""
    from refusal_lab.evaluation.metrics import auroc

    out = []
    for i in range(refuse_states.shape[1]):
        r_hat = difference_of_means(refuse_states[::2, i], answer_states[::2, i])
        held = torch.cat([refuse_states[1::2, i], answer_states[1::2, i]])
        labels = [True] * len(refuse_states[1::2]) + [False] * len(answer_states[1::2])
        out.append(auroc((held @ r_hat).numpy(), labels) if r_hat.norm() > 0 else 0.5)
    return out


def choose_layer(model, tokenizer, refuse_prompts: list[str], answer_prompts: list[str], batch_size: int = 32):
    """(layer, separation per layer): the decoder layer whose input best separates held-out
    should-refuse from should-answer prompts along the direction fitted on the others (a
    validation choice, as Arditi et al. make theirs; embeddings and the final state excluded;
    ties go to the earlier layer)."""
    ids_r = [prompt_ids(tokenizer, p) for p in refuse_prompts]
    ids_a = [prompt_ids(tokenizer, p) for p in answer_prompts]
    states_r = last_position_states(model, ids_r, tokenizer.pad_token_id, batch_size)
    states_a = last_position_states(model, ids_a, tokenizer.pad_token_id, batch_size)
    separation = layer_separation(states_r, states_a)[: len(decoder_layers(model))]
    return best_layer(separation), separation


def best_layer(separation: list[float]) -> int:
    """The decoder layer with the best held-out separation, the embeddings (index 0) excluded
    unless there is nothing else; ties go to the earlier layer (pure)."""
    candidates = range(1, len(separation)) if len(separation) > 1 else range(len(separation))
    return max(candidates, key=lambda i: (separation[i], -i))


@torch.no_grad()
def last_position_states(model, id_lists: list[list[int]], pad_id: int, batch_size: int = 32) -> torch.Tensor:
    """[n, n_layers + 1, hidden] residual stream at the last prompt position: index i < n_layers is
    the input of decoder layer i (0 = embeddings); the last is the model's final hidden state."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(id_lists), batch_size):
        ids, mask, pos = _left_padded(id_lists[start : start + batch_size], pad_id, device)
        hs = model(input_ids=ids, attention_mask=mask, position_ids=pos, output_hidden_states=True).hidden_states
        out.append(torch.stack([h[:, -1, :].float() for h in hs], dim=1).cpu())
    return torch.cat(out, dim=0)


def difference_of_means(refuse_states: torch.Tensor, answer_states: torch.Tensor) -> torch.Tensor:
    """r = mean over should-refuse rows - mean over should-answer rows (pure)."""
    return refuse_states.float().mean(dim=0) - answer_states.float().mean(dim=0)


def refusal_direction(
    model, tokenizer, refuse_prompts: list[str], answer_prompts: list[str], layer: int, batch_size: int = 32
) -> torch.Tensor:
    """The refusal direction r (not normalised) at the input of decoder layer `layer`."""
    ids_r = [prompt_ids(tokenizer, p) for p in refuse_prompts]
    ids_a = [prompt_ids(tokenizer, p) for p in answer_prompts]
    states_r = last_position_states(model, ids_r, tokenizer.pad_token_id, batch_size)[:, layer]
    states_a = last_position_states(model, ids_a, tokenizer.pad_token_id, batch_size)[:, layer]
    return difference_of_means(states_r, states_a)


def unit(direction: torch.Tensor) -> torch.Tensor:
    norm = direction.float().norm()
    if norm == 0:
        raise ValueError("the refusal direction is zero: the should-refuse and should-answer means coincide")
    return direction.float() / norm


def project_out(x: torch.Tensor, r_hat: torch.Tensor) -> torch.Tensor:
    """x - (x . r_hat) r_hat along the last axis (pure)."""
    r = r_hat.to(device=x.device, dtype=x.dtype)
    return x - (x @ r).unsqueeze(-1) * r


def _map_output(fn):
    """A forward hook that applies fn to a module's output tensor (or the first item of a tuple)."""

    def hook(module, args, output):
        if isinstance(output, tuple):
            return (fn(output[0]), *output[1:])
        return fn(output)

    return hook


@contextlib.contextmanager
def directional_ablation(model, r_hat: torch.Tensor):
    """Inside the block the residual stream has no component along r_hat at any layer or position."""
    inner = getattr(model, "model", model)
    modules = [inner.embed_tokens] + [m for layer in inner.layers for m in (layer.self_attn, layer.mlp)]
    handles = [m.register_forward_hook(_map_output(lambda x: project_out(x, r_hat))) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def activation_addition(model, r_hat: torch.Tensor, alpha: float, layer: int):
    """Inside the block the input of decoder layer `layer` gets alpha * r_hat at every position."""

    def pre_hook(module, args, kwargs):
        if args:
            return (args[0] + alpha * r_hat.to(device=args[0].device, dtype=args[0].dtype), *args[1:]), kwargs
        h = kwargs["hidden_states"]
        return args, {**kwargs, "hidden_states": h + alpha * r_hat.to(device=h.device, dtype=h.dtype)}

    handle = decoder_layers(model)[layer].register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def no_intervention():
    yield
