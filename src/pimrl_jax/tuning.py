"""Per-model settings chosen on validation: `config.tuned`.

An experiment may record, per model, the settings that won its validation comparison
(docs/profiles.md, "Tuning protocol"), e.g. in `experiments/gs2d.py`:

    tuned = {"percnn": {"train": {"lr": 3e-3}, "model": {"micro": {"init_scale": 0.2}}}}

`apply_tuned(config, overridden)` returns the config a run of `config.model.name` uses: the
experiment's defaults with that model's tuned settings on top, and the command line on top of
both (a field named in `overridden`, the paths `--config.<path>=…` set, keeps its value). A model
that evaluates another's parameters (`pimrl_nomp` evaluates `pimrl`'s) uses that model's
settings, so both describe the same training. The chosen settings are part of the stored run
config, so `compare` and resumption see exactly what was trained.
"""

from __future__ import annotations

from collections.abc import Iterable

import ml_collections

# The candidates of the tuning protocol (docs/profiles.md): each learned model is trained on
# seed 0 with each, scored on the validation split, and keeps the one with the lower validation
# RMSE (a diverged run loses). Every model gets the same two runs per system.
CANDIDATES = ("default", "long_rollout")


def settings_of(config: ml_collections.ConfigDict, model: str) -> dict[str, object]:
    """The flat `{path: value}` settings `config.tuned` records for `model` (empty if none)."""
    from pimrl_jax.models.registry import PARAMS_FROM  # a model evaluating another's params

    tuned = config.get("tuned") or {}
    entry = tuned.get(PARAMS_FROM.get(model, model))
    if not entry:
        return {}
    return dict(_leaves(entry.to_dict() if hasattr(entry, "to_dict") else dict(entry)))


def apply_tuned(
    config: ml_collections.ConfigDict, overridden: Iterable[str] = ()
) -> ml_collections.ConfigDict:
    """A copy of `config` with `config.tuned[<model>]` applied, except the paths in
    `overridden`. Raises ValueError naming a tuned path the config does not have."""
    settings = settings_of(config, config.model.name)
    if not settings:
        return config
    keep = set(overridden)
    out = config.copy_and_resolve_references()
    for path, value in settings.items():
        if path in keep:
            continue
        *parents, leaf = path.split(".")
        node = out
        for key in parents:
            node = node.get(key) if isinstance(node, ml_collections.ConfigDict) else None
        if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
            raise ValueError(
                f"config.tuned.{config.model.name} sets {path!r}, which the config does not have"
            )
        with out.unlocked():
            node[leaf] = tuple(value) if isinstance(value, list) else value
    return out


def long_rollout(config: ml_collections.ConfigDict) -> dict:
    """The second candidate: the training that made PeRCNN's rollouts stable on gs2d's
    validation trajectories (docs/results.md). Stage 2 grows the window 1 → 2 → window/2 →
    window (PeRCNN's own scripts grow the unroll the same way); both stages use lr 3e-3 halved
    every 1000 steps; stage 1 (micro pretraining, pimrl and percnn only) runs 4× longer from a
    micro module initialised at scale 0.2 (the Π-block's product has gradients ∝ scale², which
    PeRCNN's 0.02 nearly kills)."""
    window = int(config.train.window)
    return {
        "train": {
            "curriculum": tuple(sorted({1, min(2, window), max(1, window // 2), window})),
            "lr": 3e-3,
            "lr_decay_every": 1000,
            "micro_steps": 4 * int(config.train.micro_steps),
        },
        "model": {"micro": {"init_scale": 0.2}},
    }


def record(config: ml_collections.ConfigDict, long_rollout_models=()) -> ml_collections.ConfigDict:
    """`config` with `config.tuned` recording the `long_rollout` candidate for the named models
    (the ones that won it on validation); the others keep the experiment's defaults."""
    with config.unlocked():
        config.tuned = ml_collections.ConfigDict(
            {model: long_rollout(config) for model in long_rollout_models}
        )
    return config


def candidate_flags(config: ml_collections.ConfigDict, candidate: str) -> list[str]:
    """Command-line flags that pin every field the candidates set to `candidate`'s values (the
    experiment's own values for "default"), so a tuning run is what its name says whatever
    `config.tuned` records."""
    if candidate not in CANDIDATES:
        raise ValueError(f"unknown candidate {candidate!r}; valid: {', '.join(CANDIDATES)}")
    fields = dict(_leaves(long_rollout(config)))
    if candidate == "long_rollout":
        values = fields
    else:
        values = {path: _get(config, path) for path in fields}
    return [f"--config.{path}={_flag_value(value)}" for path, value in values.items()]


def _get(config, path: str):
    node = config
    for key in path.split("."):
        node = node[key]
    return node


def _flag_value(value) -> str:
    if isinstance(value, tuple | list):
        return "(" + ",".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
