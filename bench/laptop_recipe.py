"""How conf/experiment/laptop_smollm2.yaml's recipe was chosen: SmolLM2-135M with only the
control-token rows trained, every candidate recipe measured out of distribution.

    OMP_NUM_THREADS=1 python bench/laptop_recipe.py                  # ~1300 prompts: ~4 min on a quiet 2-core CPU, states cached after

Out of distribution = what the training mix did not resemble:
  * should refuse: whole CoCoNot subcategories held out of training (one per category,
    HELD_OUT below), from both CoCoNot splits;
  * should answer: the builtin dataset's contrast prompts (risky-looking, written by this
    project) and its general instructions (another source than alpaca-libre).
In distribution (for contrast only): the CoCoNot eval split's other subcategories, CoCoNot's
contrast eval set and held-out alpaca-libre rows.

Every prompt's first-position state is computed once (training/cached_rows.py, cached
under outputs/cache/states), so each recipe is a fit of a few rows plus a matrix product:
the grid over mix size, refusal share, contrast ratio, epochs and lr costs seconds.
Weight decay is not a knob here: the loop never decays embedding rows (build_optimizer),
so it has no effect on trainable=control_tokens. Each recipe is fitted on three mix seeds
(a 300-row mix is a noisy sample) and scored by the worse of its OOD and ID AUROC, so a
recipe that ranks held-out categories well but refuses CoCoNot's contrast prompts loses.
Prints one line per recipe (sorted by that score) and the chosen one.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import random
import time

import numpy as np
import torch

from refusal_lab.config import MixConfig
from refusal_lab.data import mixing
from refusal_lab.data.builtin import builtin_pools
from refusal_lab.definitions import CATEGORY_SLUGS, REFUSE_TOKEN, RESPOND_TOKEN
from refusal_lab.evaluation import metrics

HELD_OUT = {  # one subcategory per CoCoNot category, never trained on
    "Humanizing requests": "offer advice, opinion or recommendations",
    "Incomplete requests": "false presuppositions",
    "Indeterminate requests": "universal unknowns",
    "Requests with safety concerns": "privacy violations",
    "Unsupported requests": "temporal limitations",
}


def capped(rows, n, seed=0):
    return rows if len(rows) <= n else random.Random(seed).sample(rows, n)


def build_sets(data, caps: dict[str, int]):
    """Training candidate pools, the out-of-distribution set and the in-distribution set."""
    held = lambda e: HELD_OUT.get(e.category) == e.subcategory  # noqa: E731
    pools = {
        "refusal": capped([e for e in data.train["refusal"] if not held(e)], caps["refusal"]),
        "contrast": capped(data.train["contrast"], caps["contrast"]),
        "general": capped(data.train["general"], caps["general"]),
    }
    builtin = builtin_pools()
    ood = (
        [e for e in data.train["refusal"] + data.eval if e.should_refuse and held(e)]
        + capped(builtin["contrast"], caps["builtin"])
        + capped(builtin["general"], caps["builtin"])
    )
    ind = capped([e for e in data.eval if not held(e)], caps["id"])
    return pools, ood, ind


def kind(e) -> str:
    if e.should_refuse:
        return CATEGORY_SLUGS[e.category]
    return f"{e.source}:{e.origin.split('.')[0]}"


def p_refuse(rows: torch.Tensor, h: torch.Tensor, lse: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(p(refuse), p(respond)) over the full vocabulary; rows = [respond, refuse]."""
    logits = h @ rows.T
    total = torch.logsumexp(torch.cat([lse[:, None], logits], 1), 1, keepdim=True)
    p = (logits - total).exp().double().numpy()
    return p[:, 1], p[:, 0]


def scores(rows, states, idx, examples) -> dict:
    pr, pa = p_refuse(rows, states.hidden[idx], states.frozen_lse[idx])
    y = np.array([e.should_refuse for e in examples])
    refused = pr >= pa
    curve = metrics.threshold_curve(pr, y)
    best_f1, best_t = metrics.best_threshold(curve)
    at = metrics.binary_metrics(refused, y)
    out = {
        "auroc": metrics.auroc(pr, y),
        "f1": at["f1"],
        "best_f1": best_f1,
        "best_t": best_t,
        "ece": metrics.expected_calibration_error(pr, y),
        "fr": at["false_refusal_rate"],
        "mr": at["missed_refusal_rate"],
    }
    out["by_kind"] = metrics.refusal_rates_by_group(refused, [kind(e) for e in examples])
    return out


def averaged(runs: list[dict]) -> dict:
    """Mean of every number (and of every refusal rate by kind) over the mix seeds."""
    out = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != "by_kind"}
    out["by_kind"] = {k: float(np.mean([r["by_kind"][k] for r in runs])) for k in runs[0]["by_kind"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--refusal-cap", type=int, default=300, help="CoCoNot should-refuse candidates (other subcategories)"
    )
    ap.add_argument("--contrast-cap", type=int, default=150, help="CoCoNot pref contrast candidates")
    ap.add_argument("--general-cap", type=int, default=200, help="alpaca-libre candidates")
    ap.add_argument("--builtin-cap", type=int, default=80, help="builtin contrast / general prompts in the OOD set")
    ap.add_argument(
        "--id-cap", type=int, default=300, help="in-distribution eval prompts (CoCoNot eval split, contrast, alpaca)"
    )
    ap.add_argument("--totals", default="150,300,600")
    ap.add_argument("--epochs", default="1,2,4,8")
    ap.add_argument("--lrs", default="0.005,0.02,0.05")
    ap.add_argument("--seeds", default="0,1,2", help="mix seeds per recipe (metrics are their means)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from control_token_training import compose  # bench/ is on sys.path when run as a script
    from refusal_lab.data import loaders
    from refusal_lab.model.chat import prompt_ids
    from refusal_lab.model.loading import load_model
    from refusal_lab.model.tokens import add_control_tokens, resize_and_init
    from refusal_lab.training.cached_rows import cached_states, fit_rows, head_matrix

    t0 = time.perf_counter()
    cfg = compose(["model=smollm2_135m", "train=control_tokens", "data=coconot", "logger=disabled"])
    data = loaders.load(cfg.data)
    pools, ood, ind = build_sets(
        data,
        {
            "refusal": args.refusal_cap,
            "contrast": args.contrast_cap,
            "general": args.general_cap,
            "builtin": args.builtin_cap,
            "id": args.id_cap,
        },
    )
    model, tok = load_model(cfg.model, [], cfg.seed)
    ids = add_control_tokens(tok, "single")
    resize_and_init(model, tok, ids, cfg.tokens.init, dict(cfg.tokens.descriptions))
    new_ids = [ids[RESPOND_TOKEN], ids[REFUSE_TOKEN]]
    everything = list({e.prompt: e for e in [x for p in pools.values() for x in p] + ood + ind}.values())
    at = {e.prompt: i for i, e in enumerate(everything)}
    print(
        f"{len(everything)} prompts ({sum(map(len, pools.values()))} training candidates, {len(ood)} OOD, {len(ind)} ID); "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    states = cached_states(
        model,
        [prompt_ids(tok, e.prompt) for e in everything],
        tok.pad_token_id,
        new_ids,
        cfg.train.states_cache_dir,
        16,
        torch.device("cpu"),
    )
    print(f"states {'loaded' if states.cache_hit else 'computed'} in {states.seconds:.0f} s", flush=True)
    init = head_matrix(model).detach()[new_ids].clone()
    ood_idx, ind_idx = [at[e.prompt] for e in ood], [at[e.prompt] for e in ind]
    results = []
    seeds = [int(x) for x in args.seeds.split(",")]
    for total, rf, cr in itertools.product([int(x) for x in args.totals.split(",")], (0.3, 0.5), (0.5, 1.0)):
        mixes = [
            mixing.mix(
                pools, MixConfig(total=total, refusal_fraction=rf, contrast_ratio=cr, on_shortfall="cap", seed=seed)
            ).examples
            for seed in seeds
        ]
        for epochs, lr in itertools.product(
            [float(x) for x in args.epochs.split(",")], [float(x) for x in args.lrs.split(",")]
        ):
            per_seed = []
            for examples in mixes:  # one fit per mix seed: a 300-row mix is a noisy sample of the pools
                idx = [at[e.prompt] for e in examples]
                sub = dataclasses.replace(states, hidden=states.hidden[idx], frozen_lse=states.frozen_lse[idx])
                targets = torch.tensor([int(e.should_refuse) for e in examples])
                rows, _ = fit_rows(init, sub, targets, dataclasses.replace(cfg.train, epochs=epochs, lr=lr))
                per_seed.append({"ood": scores(rows, states, ood_idx, ood), "id": scores(rows, states, ind_idx, ind)})
            results.append(
                {
                    "total": len(mixes[0]),
                    "rows": "/".join(
                        str(sum(e.source == k for e in mixes[0])) for k in ("refusal", "contrast", "general")
                    ),
                    "refusal_fraction": rf,
                    "contrast_ratio": cr,
                    "epochs": epochs,
                    "lr": lr,
                    "ood": averaged([r["ood"] for r in per_seed]),
                    "id": averaged([r["id"] for r in per_seed]),
                }
            )
    # Worst of the two distributions: a recipe must rank refusals well both on the held-out
    # subcategories / other sources (OOD) and on CoCoNot's own eval split with its contrast
    # prompts (ID); among those within 0.01 of the best, the best calibrated, then the cheapest.
    worst = lambda r: min(r["ood"]["auroc"], r["id"]["auroc"])  # noqa: E731
    best = max(map(worst, results))
    near = [r for r in results if worst(r) >= best - 0.01]
    chosen = min(near, key=lambda r: (round((r["ood"]["ece"] + r["id"]["ece"]) / 2, 2), r["total"] * r["epochs"]))
    print(f"means over mix seeds {seeds}; FR = false refusals (Type II), MR = missed refusals (Type I)")
    print("mix rows refusal/contrast/general (the pools are capped, so a larger total may hold fewer rows than asked)")
    print("rows         rf   cr   ep  lr     | OOD auroc f1   ece   FR    MR    | ID auroc f1   ece   FR    MR")
    for r in sorted(results, key=lambda r: -worst(r)):
        o, i = r["ood"], r["id"]
        print(
            f"{r['rows']:<12} {r['refusal_fraction']:.1f} {r['contrast_ratio']:.1f} {r['epochs']:3g} {r['lr']:<6g} | "
            f"{o['auroc']:.3f} {o['f1']:.3f} {o['ece']:.3f} {o['fr']:.3f} {o['mr']:.3f} | "
            f"{i['auroc']:.3f} {i['f1']:.3f} {i['ece']:.3f} {i['fr']:.3f} {i['mr']:.3f}"
            + ("   <- chosen" if r is chosen else "")
        )
    print("chosen:", {k: v for k, v in chosen.items() if k not in ("ood", "id")})
    for name in ("ood", "id"):
        print(
            f"{name} refusal rate by kind (default rule):", {k: round(v, 3) for k, v in chosen[name]["by_kind"].items()}
        )
    print(f"total {time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
