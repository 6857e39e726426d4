import pytest

from refusal_lab.config import ConfigError, RunConfig, validate
from refusal_lab.paths import CONF_DIR

NOT_RUN_GROUPS = (
    "experiment",
    "eval_set",
    "suite",
    "base",
)  # eval_set/suite: benchmark presets for `refusal-lab eval`; base: files other group options include
GROUPS = {
    p.name: sorted(f.stem for f in p.glob("*.yaml"))
    for p in CONF_DIR.iterdir()
    if p.is_dir() and p.name not in NOT_RUN_GROUPS
}
OPTIONS = [(g, o) for g, opts in GROUPS.items() for o in opts]
REQUIRED = {
    ("model", "hf"): ["model.name_or_path=meta-llama/Meta-Llama-3-8B"],
    ("data", "user_file"): ["data.refusal_dataset.path=my_prompts.csv"],
}


def test_every_group_has_options():
    assert {"model", "data", "mix", "tokens", "train", "eval", "logger"} <= set(GROUPS)


@pytest.mark.parametrize("group,option", OPTIONS)
def test_every_group_option_composes_and_validates(compose, group, option):
    cfg = validate(compose([f"{group}={option}"] + REQUIRED.get((group, option), [])))
    assert isinstance(cfg, RunConfig)


def test_experiment_files_compose(compose):
    folder = CONF_DIR / "experiment"
    if not folder.is_dir():
        pytest.skip("conf/experiment/ does not exist yet")
    files = sorted(folder.glob("*.yaml"))
    assert files, f"{folder} holds no experiment files"
    for f in files:
        overrides = [f"experiment={f.stem}"]
        assert isinstance(validate(compose(overrides)), RunConfig), f.name


def test_default_is_offline_tiny_builtin(compose):
    cfg = validate(compose())
    assert (cfg.model.kind, cfg.data.refusal_source, cfg.logger.mode, cfg.tokens.scheme) == (
        "tiny",
        "builtin",
        "offline",
        "single",
    )


def test_model_chooses_its_training_recipe_but_command_line_wins(compose):
    assert validate(compose(["model=smollm2_135m"])).train.trainable == "control_tokens"
    assert validate(compose(["model=smollm2_135m", "train=lora"])).train.trainable == "lora"


def test_all_problems_reported_in_one_message(compose):
    raw = compose(
        [
            "mix.contrast_ratio=-1",
            "tokens.scheme=both",
            "+train.lr_typo=3",
            "eval.threshold=1.5",
            "model.num_layers=two",
        ]
    )
    with pytest.raises(ConfigError) as err:
        validate(raw)
    msg = str(err.value)
    assert len(err.value.problems) == 5, msg
    assert "mix.contrast_ratio=-1.0: must be >= 0.0" in msg or "mix.contrast_ratio=-1: must be >= 0.0" in msg
    assert "tokens.scheme='both': expected one of 'none', 'single', 'category'" in msg
    assert "train.lr_typo=3: unknown key" in msg
    assert "eval.threshold=1.5: must be between 0.0 and 1.0" in msg
    assert "model.num_layers='two': expected an integer" in msg


def test_cross_field_problems(compose):
    with pytest.raises(ConfigError) as err:
        validate(
            compose(
                [
                    "mix.refusal_fraction=0.8",
                    "mix.contrast_ratio=1",
                    "mix.general_count=10",
                    "+mix.category_weights={safty: 1}",
                    "tokens=none",
                    "train=control_tokens",
                    "train.processes=2",
                ]
            )
        )
    msg = str(err.value)
    assert "exceeds 1" in msg
    assert "set exactly one of them" in msg
    assert "mix.category_weights.safty=1.0: unknown category" in msg
    assert "tokens.scheme='none' has no control tokens" in msg
    assert "train.processes=2: several processes need train.backend=deepspeed" in msg


def test_hydra_rejects_unknown_group_option(compose):
    with pytest.raises(ConfigError, match="tokens=double.*tokens/double"):
        compose(["tokens=double"])
