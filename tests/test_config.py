import pytest
import yaml

from refusal_lab.config import ConfigError, RunConfig, TrainConfig, to_dict, validate
from refusal_lab.paths import CONF_DIR

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`

GROUPS = {p.name: sorted(f.stem for f in p.glob("*.yaml")) for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "experiment"}
OPTIONS = [(g, o) for g, opts in GROUPS.items() for o in opts]
REQUIRED = {("model", "hf"): ["model.name_or_path=meta-llama/Meta-Llama-3-8B"]}


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
        overrides = [f"+experiment={f.stem}"]
        assert isinstance(validate(compose(overrides)), RunConfig), f.name


def test_every_schema_default_equals_the_default_yaml(compose):
    """The composed default config and the schema agree on every key the YAML sets, and
    conf/train/base.yaml (the start of every training preset) sets every training key."""
    schema, yaml_cfg = to_dict(RunConfig()), compose()
    yaml_cfg.pop("hydra", None)
    diffs = [f"{section}.{key}: yaml {value!r} != schema {schema[section][key]!r}"
             for section, values in yaml_cfg.items() if isinstance(values, dict)
             for key, value in values.items() if value != schema[section][key]]
    diffs += [f"{key}: yaml {value!r} != schema {schema[key]!r}" for key, value in yaml_cfg.items() if not isinstance(value, dict)
              and value != schema[key]]
    assert not diffs, diffs
    base = yaml.safe_load((CONF_DIR / "train" / "base.yaml").read_text())
    assert base == schema["train"]


def test_train_presets_are_deltas_of_base():
    for path in sorted((CONF_DIR / "train").glob("*.yaml")):
        if path.stem == "base":
            continue
        raw = yaml.safe_load(path.read_text())
        assert raw["defaults"][0] == "base", path.name
        unchanged = {k: v for k, v in raw.items() if k != "defaults" and TrainConfig.__dataclass_fields__[k].default == v}
        assert not unchanged, f"{path.name} repeats base values {unchanged}"


def test_debug_fast_is_small_and_the_command_line_wins(compose):
    fast = validate(compose(["debug=fast"]))
    assert fast.train.max_steps <= 10 and fast.mix.total <= 150 and fast.logger.mode == "disabled" and not fast.train.save_checkpoint
    chosen = validate(compose(["debug=fast", "logger=wandb_offline", "train.max_steps=60"]))
    assert chosen.logger.mode == "offline" and chosen.train.max_steps == 60


def test_default_is_offline_tiny_builtin(compose):
    cfg = validate(compose())
    assert (cfg.model.kind, cfg.data.refusal_source, cfg.logger.mode, cfg.tokens.scheme) == ("tiny", "builtin", "offline", "single")


def test_model_chooses_its_training_recipe_but_command_line_wins(compose):
    assert validate(compose(["model=smollm2_135m"])).train.trainable == "control_tokens"
    assert validate(compose(["model=smollm2_135m", "train=lora"])).train.trainable == "lora"


def test_all_problems_reported_in_one_message(compose):
    raw = compose(["mix.contrast_ratio=-1", "tokens.scheme=both", "+train.lr_typo=3", "eval.threshold=1.5", "model.num_layers=two"])
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
        validate(compose(["mix.refusal_fraction=0.8", "mix.contrast_ratio=1", "mix.general_count=10",
                          "+mix.category_weights={safty: 1}", "tokens=none", "train=control_tokens", "train.processes=2"]))
    msg = str(err.value)
    assert "exceeds 1" in msg
    assert "set exactly one of them" in msg
    assert "mix.category_weights.safty=1.0: unknown category" in msg
    assert "tokens.scheme='none' has no control tokens" in msg
    assert "train.processes=2: several processes need train.backend=deepspeed" in msg


def test_hydra_rejects_unknown_group_option(compose):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="tokens"):
        compose(["tokens=double"])
