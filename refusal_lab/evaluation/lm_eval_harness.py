"""lm-evaluation-harness through the chat template, with the control token crossed.

`refusal-lab lm-eval CHECKPOINT [--tasks a,b] [--first-token "[respond]"] [--limit N]`
(optional extra: `pip install -e .[lmeval]`). Plain multiple-choice scoring never
crosses the control-token position, so it hides any tax there: here every request
is rendered by the checkpoint's chat template with the generation prompt and then
the first token (default `[respond]`, as a steered token model answers), and the
continuation is scored or generated after it. `--first-token ""` scores without it
(the no-token baseline). The default task, `refusal_lab_local_mc`, is a small
multiple-choice file shipped with the project (lm_eval_tasks/local_mc.jsonl), so it
runs offline; any installed lm-eval task name works where its data is available.
"""

from __future__ import annotations

from pathlib import Path

TASK_DIR = Path(__file__).parent / "lm_eval_tasks"
LOCAL_TASK = "refusal_lab_local_mc"
TASK_YAML = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


def local_task_dir(out: Path) -> Path:
    """A task folder for lm-eval's TaskManager: the local task with its data path made absolute."""
    out.mkdir(parents=True, exist_ok=True)
    from refusal_lab.io import write_text

    write_text(
        out / f"{LOCAL_TASK}.yaml", TASK_YAML.format(name=LOCAL_TASK, data=(TASK_DIR / "local_mc.jsonl").resolve())
    )
    return out


def control_token_lm(model, tokenizer, first_token: str, batch_size: int = 8):
    """An lm-eval HFLM whose chat-templated context ends with `first_token`."""
    from lm_eval.models.huggingface import HFLM

    class FirstTokenHFLM(HFLM):
        def apply_chat_template(self, chat_history, add_generation_prompt: bool = True) -> str:
            text = super().apply_chat_template(chat_history, add_generation_prompt)
            return text + first_token if add_generation_prompt else text

    device = str(next(model.parameters()).device)
    return FirstTokenHFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)


def evaluate(checkpoint: str, tasks: list[str], first_token: str, limit: int | None, work_dir: Path) -> dict:
    """{task: {metric: value}} of lm-eval on the checkpoint through its chat template."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from refusal_lab.model.loading import load_pretrained

    model, tokenizer = load_pretrained(checkpoint)
    if first_token and first_token not in tokenizer.get_vocab():
        raise ValueError(
            f'--first-token {first_token!r}: not a token of {checkpoint}; pass "" for a model without tokens'
        )
    lm = control_token_lm(model, tokenizer, first_token)
    results = simple_evaluate(
        model=lm,
        tasks=tasks,
        task_manager=TaskManager(include_path=str(local_task_dir(work_dir))),
        apply_chat_template=True,
        num_fewshot=0,
        limit=limit,
        log_samples=False,
    )
    return {t: {k: v for k, v in r.items() if isinstance(v, (int, float))} for t, r in results["results"].items()}
