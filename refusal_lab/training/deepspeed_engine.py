"""train.backend=deepspeed: the step loop of steps.py in a DeepSpeed engine (ZeRO 0-3,
optional CPU offload), across the processes of a job; `DeepSpeedBackend` is what a run uses.

Everything DeepSpeed needs from the user lives in one JSON under conf/deepspeed/;
its "auto" values are filled from the train section (batch size, accumulation,
clipping, precision), and a value set both here and there must agree, so batch
size, accumulation, lr and precision are set in one place. DeepSpeed itself
accepts misspelled top-level keys silently (`zero_optimisation` leaves ZeRO off),
so `check_keys` rejects unknown ones first.

ZeRO-3 traps handled here: the model is partitioned before the control tokens are
added, so the embedding resize and the new-row initialisation run inside a
`GatheredParameters` block (and the sizes of embedding and head are checked after,
tied or untied); the engine is asserted around the model before training; the
final model is gathered into one ordinary Hugging Face checkpoint that evaluation
loads like any other. deepspeed is an optional extra: imported only in here.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from refusal_lab.config import RunConfig, TrainConfig
from refusal_lab.model.chat import Encoded
from refusal_lab.paths import project_file
from refusal_lab.training import distributed
from refusal_lab.training.steps import (
    TrainResult,
    attention_implementation,
    embedding_matrices,
    lr_lambda,
    plan_steps,
    run_steps,
    use_packing,
)

log = logging.getLogger("refusal_lab")

# Top-level keys of a DeepSpeed 0.16-0.19 config (deepspeed/runtime/config.py and the
# feature configs it reads). DeepSpeedConfig ignores anything else without a word.
KNOWN_KEYS = frozenset(
    """
train_batch_size train_micro_batch_size_per_gpu gradient_accumulation_steps optimizer scheduler
fp16 bf16 amp torch_autocast gradient_clipping prescale_gradients gradient_predivide_factor
sparse_gradients communication_data_type seq_parallel_communication_data_type zero_optimization
zero_allow_untested_optimizer zero_force_ds_cpu_optimizer steps_per_print wall_clock_breakdown
memory_breakdown dump_state activation_checkpointing flops_profiler tensorboard wandb csv_monitor comet
aio checkpoint data_types elasticity autotuning pipeline compression_training data_efficiency
curriculum_learning eigenvalue progressive_layer_drop quantize_training sparse_attention
dataloader_drop_last timers comms_logger compile disable_allgather load_universal_checkpoint
use_node_local_storage graph_harvesting nebula weight_quantization hybrid_engine mics_shard_size
mics_hierarchical_params_gather use_data_before_expert_parallelism zenflow
""".split()
)

AUTO = "auto"


class DeepSpeedConfigError(ValueError):
    pass


def _require_deepspeed():
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    try:
        import deepspeed
    except ImportError as exc:
        raise ImportError(
            "train.backend=deepspeed needs DeepSpeed: pip install 'refusal-lab[deepspeed]' "
            "(deepspeed==0.19.8 installs as pure Python in ~15 s)"
        ) from exc
    return deepspeed


def resolve_path(path: str) -> Path:
    """As given (absolute or from the current directory), else in the project (conf/... also in an installed package)."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    return project_file(p)


def check_keys(ds: dict, source: str = "DeepSpeed config") -> None:
    """Unknown top-level keys are an error (DeepSpeed would silently drop them)."""
    problems = []
    for key in ds:
        if key not in KNOWN_KEYS:
            near = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
            problems.append(f"{key!r}: unknown top-level key" + (f"; did you mean {near[0]!r}?" if near else ""))
    zero = ds.get("zero_optimization")
    if zero is not None and not isinstance(zero, dict):
        problems.append(f"'zero_optimization'={zero!r}: expected a section such as {{\"stage\": 2}}")
    if problems:
        raise DeepSpeedConfigError(
            f"{source}: " + "; ".join(problems) + f". Allowed top-level keys: {', '.join(sorted(KNOWN_KEYS))}"
        )


def fill_auto(ds: dict, cfg: TrainConfig, world_size: int, dtype: str) -> dict:
    """The config with every "auto" filled from the train section; a value given in both
    places must agree (one source of truth for batch size, accumulation, lr, precision)."""
    ds = copy.deepcopy(ds)
    wanted = {
        ("train_micro_batch_size_per_gpu",): cfg.batch_size,
        ("gradient_accumulation_steps",): cfg.grad_accum,
        ("train_batch_size",): cfg.batch_size * cfg.grad_accum * world_size,
        ("gradient_clipping",): cfg.grad_clip,
        ("bf16", "enabled"): dtype == "bfloat16",
        ("fp16", "enabled"): dtype == "float16",
        ("optimizer", "params", "lr"): cfg.lr,
        ("optimizer", "params", "weight_decay"): cfg.weight_decay,
    }
    problems = []
    for path, value in wanted.items():
        if path[0] == "optimizer" and "optimizer" not in ds:
            continue  # no DeepSpeed optimizer section: the trainer builds AdamW from the train section
        node = ds
        for k in path[:-1]:
            node = node.setdefault(k, {})
        current = node.get(path[-1], AUTO)
        if current == AUTO:
            node[path[-1]] = value
        elif current != value:
            src = {"bf16": "model.dtype", "fp16": "model.dtype"}.get(path[0], "train section")
            problems.append(f'{".".join(path)}={current!r} but the {src} gives {value!r}: set it to "auto" in the JSON')
    leftover = [k for k, v in _walk(ds) if v == AUTO]
    if leftover:
        problems.append(f'no value to fill for "auto" at {", ".join(leftover)}')
    if problems:
        raise DeepSpeedConfigError("DeepSpeed config: " + "; ".join(problems))
    return ds


def _walk(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}{k}.")
    else:
        yield prefix.rstrip("."), node


def load_config(cfg: TrainConfig, world_size: int, dtype: str) -> dict:
    path = resolve_path(cfg.deepspeed_config or "")
    if not path.is_file():
        raise DeepSpeedConfigError(
            f"train.deepspeed_config={cfg.deepspeed_config!r}: no such file "
            f"(the bundled ones are conf/deepspeed/zero2.json, zero3.json, zero3_offload.json)"
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DeepSpeedConfigError(f"train.deepspeed_config={str(path)!r}: not valid JSON ({exc})") from exc
    check_keys(raw, str(path))
    return fill_auto(raw, cfg, world_size, dtype)


def zero_stage(ds: dict) -> int:
    return int(ds.get("zero_optimization", {}).get("stage", 0))


def check_supported(cfg: TrainConfig) -> None:
    if cfg.trainable != "all":
        raise DeepSpeedConfigError(
            f"train.trainable={cfg.trainable!r}: backend=deepspeed trains all parameters; "
            "use train.trainable=all or train.backend=torch"
        )
    if cfg.new_rows_lr is not None:
        raise DeepSpeedConfigError(
            f"train.new_rows_lr={cfg.new_rows_lr}: not supported with backend=deepspeed "
            "(ZeRO keeps its own fp32 master rows); set train.new_rows_lr=null"
        )


# ---------------------------------------------------------------- model setup


class Zero3Context:
    """Keeps transformers' ZeRO-3 switch (HfDeepSpeedConfig) alive while models are
    loaded and resized; `close()` turns it off again (before loading a checkpoint for eval)."""

    def __init__(self, ds: dict):
        from transformers.integrations import HfDeepSpeedConfig

        self.hf = HfDeepSpeedConfig(ds)

    def close(self):
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
        self.hf = None


def partition(model, ds: dict):
    """ZeRO-3: shard an already built model across the processes (every rank built the
    same weights from the same seed)."""
    deepspeed = _require_deepspeed()
    if getattr(model.get_input_embeddings().weight, "ds_id", None) is not None:
        return model  # loaded under ZeRO-3 already (from_pretrained with HfDeepSpeedConfig)
    deepspeed.zero.Init(module=model, config_dict_or_path=ds)
    return model


def full_shape(p: torch.nn.Parameter) -> tuple[int, ...]:
    return tuple(getattr(p, "ds_shape", p.shape))


def resize_and_init_partitioned(
    model, tokenizer, token_ids: dict[str, int], init: str, descriptions: dict[str, str]
) -> None:
    """Add the control-token rows to a ZeRO-3-partitioned model: transformers resizes
    (it gathers the old matrix itself when HfDeepSpeedConfig is alive), then the rows are
    set inside a gather with rank 0 as modifier, then sizes are checked."""
    deepspeed = _require_deepspeed()
    from refusal_lab.model.tokens import resize_and_init

    if not token_ids:
        return
    rows = max(full_shape(model.get_input_embeddings().weight)[0], len(tokenizer))
    if full_shape(model.get_input_embeddings().weight)[0] != rows:
        model.resize_token_embeddings(rows, mean_resizing=False)
    matrices = [model.get_input_embeddings().weight]
    head = model.get_output_embeddings()
    if head is not None and head.weight is not matrices[0]:
        matrices.append(head.weight)
    with deepspeed.zero.GatheredParameters(matrices, modifier_rank=0):
        resize_and_init(model, tokenizer, token_ids, init, descriptions)  # sizes already match: only sets rows
    check_vocab_sizes(model, len(tokenizer))


def check_vocab_sizes(model, n_tokens: int) -> None:
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    problems = []
    if full_shape(emb)[0] < n_tokens:
        problems.append(f"input embedding has {full_shape(emb)[0]} rows")
    if head is not None and full_shape(head.weight)[0] != full_shape(emb)[0]:
        problems.append(f"output head has {full_shape(head.weight)[0]} rows, embedding {full_shape(emb)[0]}")
    if getattr(model.config, "tie_word_embeddings", False) and head is not None and head.weight is not emb:
        problems.append("tie_word_embeddings=true but head and embedding are different parameters after the resize")
    if model.config.vocab_size != full_shape(emb)[0]:
        problems.append(f"config.vocab_size={model.config.vocab_size}, embedding rows {full_shape(emb)[0]}")
    if problems:
        raise RuntimeError(f"after adding control tokens ({n_tokens} tokens in the tokenizer): " + "; ".join(problems))


def assert_engine(engine) -> None:
    """Fail loudly if DeepSpeed is configured but the model is not in a DeepSpeed engine
    (what some launchers do silently, e.g. the HF Trainer under `accelerate launch --cpu`)."""
    from deepspeed import DeepSpeedEngine

    if not isinstance(engine, DeepSpeedEngine):
        raise RuntimeError(
            f"train.backend=deepspeed but the model is a {type(engine).__name__}, not a DeepSpeedEngine: "
            "DeepSpeed is not active; refusing to train without it"
        )


# ---------------------------------------------------------------- training


def _world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_sum(values: list[float]) -> list[float]:
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t.tolist()


class DeepSpeedStepEngine:
    """steps.Engine around a DeepSpeed engine: the engine steps after every micro-batch (it
    knows the accumulation boundary), gradients are averaged over ranks, state is a
    DeepSpeed checkpoint folder per step (the previous one removed once `latest` moved)."""

    def __init__(self, engine, scheduler, model, encoded: list[Encoded], pad_id: int, cfg: TrainConfig):
        self.engine, self.scheduler, self.module, self.device = engine, scheduler, engine, engine.device
        self.rank, self.world = _world()
        self.packed = use_packing(
            engine, encoded, pad_id, cfg, engine.device
        )  # through the engine: ZeRO-3 gathers in its hooks
        self.attn = attention_implementation(model)
        engine.train()

    def autocast(self):
        return contextlib.nullcontext()  # DeepSpeed casts itself (bf16 / fp16 sections of its config)

    def backward(self, loss: torch.Tensor, n_labels: int) -> None:
        # DeepSpeed averages gradients over ranks: scale by world so the sum over
        # every rank's micro-batches is divided by the step's label count, once
        self.engine.backward(loss * (self.world / max(1, n_labels)), scale_wrt_gas=False)

    def after_micro_batch(self) -> None:
        self.engine.step()

    def step(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def all_sum(self, value: float) -> float:
        return _all_sum([value])[0]

    def save(self, state_dir: Path, result: TrainResult, step: int) -> None:
        self.engine.save_checkpoint(
            str(state_dir), tag=f"step{step}", client_state={"result": asdict(result), "rng": torch.get_rng_state()}
        )
        _keep_only(Path(state_dir), f"step{step}", self.rank)

    def load(self, state_dir: Path) -> TrainResult | None:
        if not (Path(state_dir) / "latest").exists():
            return None
        _, client = self.engine.load_checkpoint(str(state_dir), load_module_strict=True)
        torch.set_rng_state(client["rng"])
        return TrainResult(**client["result"])

    def finished(self, state_dir: Path) -> None:
        _barrier()
        if self.rank == 0:
            shutil.rmtree(state_dir, ignore_errors=True)  # finished: the consolidated model supersedes it


def train_deepspeed(
    model,
    encoded: list[Encoded],
    pad_id: int,
    cfg: TrainConfig,
    ds: dict | None = None,
    log_fn: Callable[[dict, int], None] = lambda m, s: None,
    progress: bool = True,
    state_dir: Path | None = None,
    checkpoint_every: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
):
    """The step loop in a DeepSpeed engine: same plan, token-weighted loss over the
    micro-batches of all ranks, resumable through DeepSpeed checkpoints. Returns the
    TrainResult (losses identical on every rank) and the engine."""
    deepspeed = _require_deepspeed()
    check_supported(cfg)
    _, world = _world()
    ds = ds or load_config(cfg, world, _dtype_name(model))
    steps = plan_steps(len(encoded), cfg, world)
    groups = _param_groups(model, cfg)
    optimizer = None if "optimizer" in ds else torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))
    engine, _, _, scheduler = deepspeed.initialize(
        model=model,
        model_parameters=groups,
        optimizer=optimizer,
        config=ds,
        lr_scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(len(steps), cfg.warmup_ratio)),
    )
    assert_engine(engine)
    step_engine = DeepSpeedStepEngine(engine, scheduler, model, encoded, pad_id, cfg)
    return run_steps(
        step_engine, encoded, pad_id, cfg, steps, log_fn, progress, state_dir, checkpoint_every, should_stop
    ), engine


def _barrier():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _keep_only(state_dir: Path, tag: str, rank: int) -> None:
    """Older step folders go once the new one (and its `latest` pointer) is written."""
    _barrier()
    if rank == 0:
        for d in state_dir.glob("step*"):
            if d.is_dir() and d.name != tag:
                shutil.rmtree(d, ignore_errors=True)


def _param_groups(model, cfg: TrainConfig) -> list[dict]:
    """Same grouping as training.build_optimizer: no decay on embeddings, head and 1-D tensors."""
    embed_ids = {id(w) for w in embedding_matrices(model)}
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if id(p) in embed_ids or len(full_shape(p)) < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _dtype_name(model) -> str:
    dtype = next(model.parameters()).dtype
    return {torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(dtype, "float32")


# ---------------------------------------------------------------- the final model


def save_consolidated(engine, tokenizer, out_dir: Path) -> None:
    """One ordinary HF checkpoint (safetensors + tokenizer) from the engine, on rank 0.
    Under ZeRO-3 the full parameters are gathered (every rank must call this)."""
    deepspeed = _require_deepspeed()
    rank, _ = _world()
    module = engine.module
    out_dir = Path(out_dir)
    stage3 = engine.zero_optimization_stage() == 3
    params = list(module.parameters())
    with deepspeed.zero.GatheredParameters(params, modifier_rank=None, enabled=stage3):
        if rank == 0:
            state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
            tmp = out_dir.with_name(out_dir.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            module.save_pretrained(tmp, state_dict=state)
            tokenizer.save_pretrained(tmp)
            shutil.rmtree(out_dir, ignore_errors=True)
            tmp.rename(out_dir)
    _barrier()


# ---------------------------------------------------------------- a run's backend


class DeepSpeedBackend:
    """A run on every process of a job: joins the process group, builds the model (under
    ZeRO-3 partitioned before the control tokens are added), trains in a DeepSpeed engine,
    gathers one ordinary checkpoint. Only the main process gets the final model back."""

    def __init__(self, cfg: RunConfig, dist_env: distributed.DistEnv):
        import torch.distributed as dist

        check_supported(cfg.train)
        self.cfg, self.dist_env = cfg, dist_env
        self.is_main, self.world_size = dist_env.is_main, dist_env.world_size
        self.joined = not (dist.is_available() and dist.is_initialized())  # we leave what we joined
        distributed.init(dist_env, use_deepspeed=True)
        self.ds = load_config(cfg.train, dist_env.world_size, cfg.model.dtype)
        stage3 = zero_stage(self.ds) == 3
        # a pretrained model then loads each shard straight into its rank (the tiny one is built, then partitioned)
        self.zero3 = Zero3Context(self.ds) if stage3 and cfg.model.kind != "tiny" else None
        self.device = distributed.device_for(dist_env, cfg.train.device)
        self.engine = None

    def build_model(self, texts: list[str]):
        from refusal_lab.model.loading import load_model
        from refusal_lab.model.tokens import add_control_tokens, install_control_tokens

        model, tokenizer = load_model(self.cfg.model, texts, self.cfg.seed)
        tokens = self.cfg.tokens
        if zero_stage(self.ds) == 3:
            token_ids = add_control_tokens(tokenizer, tokens.scheme)
            self.zero3 = self.zero3 or Zero3Context(self.ds)
            model = partition(model, self.ds)
            resize_and_init_partitioned(model, tokenizer, token_ids, tokens.init, dict(tokens.descriptions))
        else:
            token_ids = install_control_tokens(model, tokenizer, tokens)
            model.to(self.device)
        return model, tokenizer, token_ids

    def train(
        self, model, encoded: list[Encoded], pad_id: int, new_ids: list[int], log_fn, state_dir: Path, should_stop
    ) -> TrainResult:
        result, self.engine = train_deepspeed(
            model,
            encoded,
            pad_id,
            self.cfg.train,
            self.ds,
            log_fn,
            True,
            state_dir,
            self.cfg.train.checkpoint_every,
            should_stop,
        )
        return result

    def final_model(self, model, tokenizer, result: TrainResult, run_dir: Path):
        """Every rank writes its figures and helps gather the checkpoint; the main one loads
        it back like any other (and drops it after loading unless train.save_checkpoint)."""
        from refusal_lab.io import write_json
        from refusal_lab.model.loading import load_pretrained

        if self.world_size > 1:
            write_json(run_dir / "ranks" / f"rank{self.dist_env.rank}.json", rank_figures(self.dist_env, result))
        save_consolidated(self.engine, tokenizer, run_dir / "checkpoint")
        self.engine = None
        self._close_zero3()
        if not self.is_main:
            return None
        model, tokenizer = load_pretrained(str(run_dir / "checkpoint"), self.cfg.model)
        if not self.cfg.train.save_checkpoint:
            shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)  # consolidated only to evaluate it
        return model.to(self.device), tokenizer

    def _close_zero3(self) -> None:
        if self.zero3 is not None:
            self.zero3.close()
            self.zero3 = None

    def close(self) -> None:
        self._close_zero3()
        if self.joined and self.world_size > 1:
            distributed.shutdown()


def rank_figures(dist_env: distributed.DistEnv, result: TrainResult) -> dict:
    """What one process of a job did (ranks/rankN.json)."""
    return {
        "rank": dist_env.rank,
        "world_size": dist_env.world_size,
        "losses": result.losses,
        "real_tokens": result.real_tokens,
        "padded_tokens": result.padded_tokens,
        "seconds": result.seconds,
        "tokens_per_s": result.tokens_per_s,
    }
