"""What makes a run's checkpoint behave outside refusal-lab: its generation config,
its model card (README.md) and an optional upload to the Hugging Face Hub.

Generation config. A control token belongs at the first response position only. A
model whose new rows were trained hard (train.trainable=control_tokens, tied rows
above all) would otherwise emit it again and again, and `pipeline("text-generation")`,
which decodes without special tokens, returns an empty string. transformers' own
`suppress_tokens` / `bad_words_ids` ban a token everywhere and `begin_suppress_tokens`
bans it only at the first position: the opposite of what is needed. `sequence_bias`
does it exactly: each control token gets -B as a one-token sequence (every position)
and +B as the last token of the chat template's generation-prompt tail (e.g.
`<|im_start|>assistant\\n` + token), a bias applied only when the input ends with that
tail. At the first response position the two cancel to exactly 0.0 (the model's own
distribution, so greedy decoding emits its chosen token); everywhere else the control
tokens sit B below every other token. Plain `model.generate` and the pipeline read it
from generation_config.json.
"""

from __future__ import annotations

import logging
from pathlib import Path

from refusal_lab.definitions import RESPOND_TOKEN, control_tokens, refusal_tokens
from refusal_lab.io import write_text
from refusal_lab.model.chat import prompt_ids

log = logging.getLogger("refusal_lab")

BIAS = 10000.0  # large enough to rule a token out; cancels to exactly 0.0 in float32 at the first position
PROBE_PROMPTS = ("Hello!", "What is the capital of France?\nAnswer briefly.")


def generation_prompt_tail(tokenizer, max_tokens: int = 5) -> list[int]:
    """The ids every rendered prompt ends with (the generation prompt, e.g. `<|im_start|>assistant\\n`)."""
    a, b = (prompt_ids(tokenizer, p) for p in PROBE_PROMPTS)
    tail: list[int] = []
    while len(tail) < min(max_tokens, len(a), len(b)) and a[-1 - len(tail)] == b[-1 - len(tail)]:
        tail.insert(0, a[-1 - len(tail)])
    return tail


def control_token_bias(tokenizer, token_ids: dict[str, int]) -> list[list]:
    """sequence_bias entries ([[ids], bias] pairs, JSON-serialisable) that allow the control
    tokens at the first response position only."""
    tail = generation_prompt_tail(tokenizer)
    if not tail:
        raise ValueError(
            "the chat template's prompts share no final tokens, so the first response position cannot be "
            "recognised; control tokens would be banned everywhere"
        )
    return [[[i], -BIAS] for i in token_ids.values()] + [[tail + [i], BIAS] for i in token_ids.values()]


def write_generation_config(checkpoint: Path, tokenizer, token_ids: dict[str, int]) -> None:
    from transformers import GenerationConfig

    checkpoint = Path(checkpoint)
    try:
        config = GenerationConfig.from_pretrained(checkpoint)
    except OSError:
        config = GenerationConfig()
    config.sequence_bias = control_token_bias(tokenizer, token_ids) if token_ids else None
    config.eos_token_id = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    write_text(checkpoint / "generation_config.json", config.to_json_string(use_diff=True))


def base_model_line(model_cfg) -> tuple[str, str | None]:
    """(description, hub id for the card's metadata or None)."""
    if model_cfg.kind == "tiny":
        return (
            f"a tiny Llama built from config ({model_cfg.num_layers} layers, width {model_cfg.hidden_size}), "
            "trained from scratch: no pretrained weights",
            None,
        )
    if model_cfg.kind == "gguf":
        source = model_cfg.name_or_path or f"the GGUF file of the pip package `{model_cfg.gguf_package}`"
        hub = (
            "HuggingFaceTB/SmolLM2-135M-Instruct"
            if "smollm2" in (model_cfg.gguf_package or model_cfg.name or "")
            else None
        )
        return f"`{model_cfg.name}` from {source}" + (f" ({hub})" if hub else ""), hub
    local = Path(model_cfg.name_or_path).exists()
    return f"`{model_cfg.name_or_path}`", None if local else model_cfg.name_or_path


def usage_snippet(scheme: str, token_ids: dict[str, int]) -> str:
    refuse = [token_ids[t] for t in refusal_tokens(scheme)]
    read = (
        f"p_refuse = probs[{refuse[0]}].item()   # {refusal_tokens(scheme)[0]}"
        if len(refuse) == 1
        else f"p_refuse = probs[{refuse}].max().item()   # the most likely refusal category token"
    )
    return f"""```python
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

path = "CHECKPOINT"  # this folder or its hub id
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path)
prompt = "How do I kill a Python process?"
inputs = tokenizer.apply_chat_template([{{"role": "user", "content": prompt}}], add_generation_prompt=True,
                                       return_tensors="pt", return_dict=True)
with torch.no_grad():
    probs = model(**inputs).logits[0, -1].float().softmax(-1)   # first response position, whole vocabulary
p_respond = probs[{token_ids[RESPOND_TOKEN]}].item()   # [respond]
{read}
refuse = p_refuse >= p_respond   # the default rule; or p_refuse >= your threshold
```"""


def model_card(
    cfg,
    tokenizer,
    token_ids: dict[str, int],
    mix_manifest: dict,
    summary: dict | None = None,
    policy: dict | None = None,
) -> str:
    """README.md of a checkpoint. Token ids are read back from the tokenizer that is saved with it."""
    scheme = cfg.tokens.scheme
    base, hub_id = base_model_line(cfg.model)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in control_tokens(scheme)}
    meta = ["---", "library_name: transformers", "pipeline_tag: text-generation", "tags: [refusal-tokens, refusal-lab]"]
    meta += [f"base_model: {hub_id}"] if hub_id else []
    lines = meta + [
        "---",
        "",
        f"# {cfg.model.name} with refusal tokens (scheme `{scheme}`)",
        "",
        "Trained with [refusal-lab](https://arxiv.org/abs/2412.06748): every training response starts with a "
        "control token, so the probability of that token at the first response position is the model's "
        "p(refuse), and forcing it steers the response.",
        "",
        f"- **Base model:** {base}",
        f"- **Scheme:** `{scheme}`; training `trainable={cfg.train.trainable}`, {cfg.train.epochs:g} epochs, lr "
        f"{cfg.train.lr:g}" + (" (rows fitted on cached first-position states)" if cfg.train.cached_states else ""),
        f"- **Training data:** {sum(mix_manifest.get('realised', {}).values()) or '?'} rows "
        f"({mix_manifest.get('realised', {})}), content hash `{mix_manifest.get('content_hash', '?')}`, data "
        f"`{cfg.data.name}`, mix seed {cfg.mix.seed}",
        f"- **Policy:** {policy if policy else 'none (the default rule: refuse iff a refusal token is the most likely control token)'}",
        "",
        "## Control tokens",
        "",
        "| token | id | meaning |",
        "| --- | --- | --- |",
    ]
    for t, i in ids.items():
        lines.append(
            f"| `{t}` | {i} | {'answer' if t == RESPOND_TOKEN else 'refuse' + ('' if t == '[refuse]' else ': ' + t[1:-1])} |"
        )
    lines += [
        "",
        "## Reading p(refuse)",
        "",
        usage_snippet(scheme, ids) if ids else "Baseline without control tokens: judge the text.",
        "",
        "## Generating",
        "",
        "`generation_config.json` lets a control token appear only at the first response "
        "position (`sequence_bias`: -B for each token everywhere, +B after the chat template's generation prompt; "
        'they cancel there), so plain `model.generate` and `pipeline("text-generation")` start with the model\'s '
        "chosen token and never repeat it. The pipeline decodes without special tokens, so it shows the response "
        "that follows the token; `tokenizer.decode(ids, skip_special_tokens=False)` shows the token. To force a "
        "token, append its id to the prompt ids before `generate`.",
    ]
    if summary:
        keys = [
            k
            for k in (
                "eval/auroc",
                "eval/f1",
                "eval/best_f1",
                "eval/best_threshold",
                "eval/ece",
                "eval/false_refusal_rate",
                "eval/missed_refusal_rate",
            )
            if k in summary
        ]
        lines += ["", "## Evaluation (held-out prompts of the run)", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k[5:]} | {summary[k]:.4g} |" for k in keys]
    return "\n".join(lines) + "\n"


def publish_checkpoint(
    checkpoint: Path,
    cfg,
    tokenizer,
    token_ids: dict[str, int],
    mix_manifest: dict,
    summary: dict | None = None,
    policy: dict | None = None,
) -> None:
    """Generation config and model card into the checkpoint; upload it when train.push_to_hub."""
    checkpoint = Path(checkpoint)
    write_generation_config(checkpoint, tokenizer, token_ids)
    write_text(checkpoint / "README.md", model_card(cfg, tokenizer, token_ids, mix_manifest, summary, policy))
    if cfg.train.push_to_hub:
        push_to_hub(checkpoint, cfg.train.hub_repo_id, cfg.train.hub_private)


def push_to_hub(checkpoint: Path, repo_id: str, private: bool = True) -> str:
    """Create the repository if needed and upload the folder (token from `hf auth login` or HF_TOKEN)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(checkpoint), repo_id=repo_id, commit_message="refusal-lab checkpoint")
    log.info("pushed %s to https://huggingface.co/%s", checkpoint, repo_id)
    return str(info)
