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

import itertools
from collections.abc import Iterable

import ml_collections

# The candidates of the tuning protocol (docs/profiles.md): each learned model is trained on
# seed 0 with each, scored on the validation split, and keeps the one with the lower validation
# RMSE (a diverged run loses). Every model gets the same candidates per system; a candidate that
# sets what a model reads as an earlier one does (`long_pretraining` for ConvLSTM, FNO, CROP;
# `micro_rollout`, PIMRL's alone, for everyone else) is that one's run, not trained twice
# (`equivalent`). `long_unroll` came last and is read by every model.
CANDIDATES = ("default", "long_rollout", "long_pretraining", "micro_rollout", "long_unroll")
# Modifiers: settings put on top of a candidate, named "<candidate>+<modifier>"
# ("micro_rollout+noisy"; several in MODIFIERS order: "long_unroll+noisy+pushforward"). A tuning
# round of a modifier gives each model one run: its candidate in use with the modifier on top
# (`results --tune --candidates +noisy`), so every model gets it on its own best recipe.
MODIFIERS = ("noisy", "pushforward")
# Noise injection (`noisy`): on each rollout window's initial state, in units of each field's std.
# 0.02 of the std is about a third of a macro step's RMS change of the gs3d data (0.0095, field
# stds 0.22 and 0.11), the size of error a rollout makes in a step or two.
INPUT_NOISE = 0.02
# Pushforward (`pushforward`): macro steps each rollout window first advances with the model,
# without gradient; one, as in Brandstetter et al. (2022).
PUSHFORWARD = 1


def names() -> tuple[str, ...]:
    """Every name a tuning run can have: the candidates, then each with each modifier, then with
    each pair of them, and so on (modifiers in MODIFIERS order)."""
    combos = [
        "+".join(group)
        for size in range(1, len(MODIFIERS) + 1)
        for group in itertools.combinations(MODIFIERS, size)
    ]
    return CANDIDATES + tuple(f"{c}+{m}" for m in combos for c in CANDIDATES)


def settings_of(config: ml_collections.ConfigDict, model: str) -> dict[str, object]:
    """The flat `{path: value}` settings `config.tuned` records for `model` (empty if none)."""
    from pimrl_jax.models.registry import PARAMS_FROM  # a model evaluating another's params

    tuned = config.get("tuned") or {}
    entry = tuned.get(PARAMS_FROM.get(model, model))
    if not entry:
        return {}
    return flatten(entry.to_dict() if hasattr(entry, "to_dict") else dict(entry))


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
        if not set_field(out, path, value):
            raise ValueError(
                f"config.tuned.{config.model.name} sets {path!r}, which the config does not have"
            )
    return out


def set_field(config: ml_collections.ConfigDict, path: str, value) -> bool:
    """Set the dotted field `path` of `config` to `value` (a list becomes a tuple, as a config
    holds it); False, changing nothing, when `config` has no such field."""
    *parents, leaf = path.split(".")
    node = config
    for key in parents:
        node = node.get(key) if isinstance(node, ml_collections.ConfigDict) else None
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
        return False
    with config.unlocked():
        node[leaf] = tuple(value) if isinstance(value, list) else value
    return True


def long_rollout(config: ml_collections.ConfigDict) -> dict:
    """The second candidate: the training that made PeRCNN's rollouts stable on gs2d's
    validation trajectories (docs/results.md). Stage 2 grows the window 1 → 2 → window/2 →
    window (PeRCNN's own scripts grow the unroll the same way); both stages use lr 3e-3 halved
    every 1000 steps; stage 1 (micro pretraining, pimrl and percnn only) runs 4× longer from a
    micro module initialised at scale 0.2 (the Π-block's product has gradients ∝ scale², which
    PeRCNN's 0.02 nearly kills)."""
    return {
        "train": {
            "curriculum": _growing_windows(int(config.train.window)),
            "lr": 3e-3,
            "lr_decay_every": 1000,
            "micro_steps": 4 * int(config.train.micro_steps),
        },
        "model": {"micro": {"init_scale": 0.2}},
    }


def long_pretraining(config: ml_collections.ConfigDict) -> dict:
    """The third candidate: `long_rollout`'s stage 1 (4× the micro pretraining from a Π-block
    initialised at scale 0.2) with the experiment's own stage 2. The two stages want different
    things: on fn the long pretraining made PeRCNN's micro module 4× more accurate, while the
    long-rollout stage 2 (lr 3e-3) made ConvLSTM's macro module 2× worse; on burgers the
    long-rollout PeRCNN diverges on validation trajectories the default one survives."""
    return {
        "train": {"micro_steps": 4 * int(config.train.micro_steps)},
        "model": {"micro": {"init_scale": 0.2}},
    }


def micro_rollout(config: ml_collections.ConfigDict) -> dict:
    """The fourth candidate, read by pimrl only: `long_pretraining`, then its micro module trained
    alone over macro windows the way `long_rollout` trains PeRCNN (stage 3, `train.steps` steps,
    windows growing 1 → 2 → window/2 → window, any start), then the experiment's own stage 2 with
    the micro module frozen. Measured on gs3d (docs/results-notes/gs3d-quick.md): PIMRL's jointly
    trained micro module was no better than holding the burst's first frame (burst RMSE 0.0060
    against 0.0064) and diverged alone at step 39, while PeRCNN's, trained over macro windows,
    stayed finite; PeRCNN's micro module in PIMRL's place lowered its validation RMSE 0.227 →
    0.174."""
    settings = long_pretraining(config)
    settings["train"].update(
        micro_rollout_steps=int(config.train.steps),
        micro_rollout_curriculum=_growing_windows(int(config.train.window)),
        freeze_micro=True,
    )
    return settings


def long_unroll(config: ml_collections.ConfigDict) -> dict:
    """The fifth candidate (seventh session): `long_rollout` unrolled twice as far — the training
    window and its curriculum's last phase doubled, and twice the stage-2 steps so that each
    phase keeps its length. PeRCNN's own scripts unroll 200 → 400 → 800 micro steps; gs3d's
    long_rollout unrolls 10 macro = 50 micro steps, and there PeRCNN diverged on validation with
    seed 1 (macro step 54) while 20 macro steps and 800 stage-2 steps kept it finite on every
    seed (validation RMSE 0.118 / 0.169 / 0.211 on seeds 0 / 1 / 2; docs/results-notes/
    gs3d-quick.md). It changes the windows every model trains on, so every model runs it."""
    window = 2 * int(config.train.window)
    settings = long_rollout(config)
    settings["train"].update(
        window=window,
        steps=2 * int(config.train.steps),
        curriculum=_growing_windows(window),
    )
    return settings


def _growing_windows(window: int) -> tuple[int, ...]:
    """The unroll curriculum of the long recipes: 1 → 2 → window/2 → window macro steps."""
    return tuple(sorted({1, min(2, window), max(1, window // 2), window}))


def noisy(config: ml_collections.ConfigDict) -> dict:
    """The modifier `noisy`: noise injection (`train.input_noise` = `INPUT_NOISE`) on every
    rollout window's initial state, so that training sees the slightly-off states a rollout
    makes and learns to come back from them (the issue's remedy for PIMRL's slow drift on gs3d
    seed 1: validation RMSE 0.79 against 0.17 on seed 0, docs/results-notes/gs3d-quick.md)."""
    del config
    return {"train": {"input_noise": INPUT_NOISE}}


def pushforward(config: ml_collections.ConfigDict) -> dict:
    """The modifier `pushforward`: each rollout window (stages 2 and 3) first advances
    `PUSHFORWARD` macro step with the model itself, without gradient, and is trained from there
    (`train.pushforward`; `pimrl_jax.train.make_loss`) — the issue's pushforward-style training:
    the inputs training sees are the model's own predictions, not the data's exact states or
    `noisy`'s isotropic perturbation of them."""
    del config
    return {"train": {"pushforward": PUSHFORWARD}}


def candidate_settings(config: ml_collections.ConfigDict, candidate: str) -> dict:
    """The nested settings `candidate` (a name of `names()`) puts on top of the experiment's
    defaults: its recipe's, with its modifier's on top."""
    if candidate not in names():
        raise ValueError(
            f"unknown candidate {candidate!r}; valid: {', '.join(CANDIDATES)}, each optionally "
            f"with a modifier ({', '.join('+' + m for m in MODIFIERS)})"
        )
    base, *modifiers = candidate.split("+")
    recipes = {
        "default": _default,
        "long_rollout": long_rollout,
        "long_pretraining": long_pretraining,
        "micro_rollout": micro_rollout,
        "long_unroll": long_unroll,
        "noisy": noisy,
        "pushforward": pushforward,
    }
    settings = recipes[base](config)
    for modifier in modifiers:
        for path, value in flatten(recipes[modifier](config)).items():
            *parents, leaf = path.split(".")
            node = settings
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
    return settings


def with_modifier(candidate: str, modifier: str) -> str:
    """`candidate` with `modifier` on top, its own modifiers kept (MODIFIERS order):
    "micro_rollout", "noisy" -> "micro_rollout+noisy"; "long_unroll+noisy", "pushforward" ->
    "long_unroll+noisy+pushforward"."""
    if modifier not in MODIFIERS:
        raise ValueError(f"unknown modifier {modifier!r}; valid: {', '.join(MODIFIERS)}")
    base, *own = candidate.split("+")
    return "+".join([base, *(m for m in MODIFIERS if m in {*own, modifier})])


def modified(candidate: str) -> list[str]:
    """The candidates `candidate` was made from by its modifier rounds, last modifier off first
    (`with_modifier` undone): "long_unroll+noisy+pushforward" -> ["long_unroll+noisy",
    "long_unroll"]; a candidate without a modifier -> []."""
    parts = candidate.split("+")
    return ["+".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]


def _default(config: ml_collections.ConfigDict) -> dict:
    """The first candidate: the experiment's own settings, nothing on top."""
    del config
    return {}


def record(config: ml_collections.ConfigDict, chosen, step_scale=None) -> ml_collections.ConfigDict:
    """`config` with `config.tuned` recording, per model, the settings of the candidate it won
    on validation (`chosen`: {model: candidate}) and, where `step_scale` ({model: factor}) names
    it, `train.step_scale`: that model's recipe shortened to the system's compute allowance
    (every stage, curriculum phase and decay interval × factor; docs/profiles.md, "Compute
    allowance"). Unnamed models keep the experiment's defaults."""
    chosen, step_scale = dict(chosen), dict(step_scale or {})
    tuned = {}
    for model in dict.fromkeys([*chosen, *step_scale]):
        settings = candidate_settings(config, chosen.get(model, "default"))
        if step_scale.get(model, 1.0) != 1.0:
            settings.setdefault("train", {})["step_scale"] = float(step_scale[model])
        if settings:
            tuned[model] = settings
    with config.unlocked():
        config.tuned = ml_collections.ConfigDict(tuned)
    return config


# Recorded beside a model's candidate without being one (`record`'s allowance).
NOT_CANDIDATE_FIELDS = ("train.step_scale",)


def chosen(config: ml_collections.ConfigDict, model: str) -> str:
    """The candidate whose settings `config.tuned` records for `model` ("default" if none); the
    compute allowance recorded beside it (`NOT_CANDIDATE_FIELDS`) is not part of the choice."""
    settings = {
        k: v for k, v in settings_of(config, model).items() if k not in NOT_CANDIDATE_FIELDS
    }
    for candidate in names():
        if flatten(candidate_settings(config, candidate)) == settings:
            return candidate
    raise ValueError(f"config.tuned.{model} records {settings}, which is no candidate's")


def equivalent(model: str, candidate: str, config: ml_collections.ConfigDict) -> str:
    """The first candidate (in `names()` order) that sets every field `model` reads as
    `candidate` does: `candidate` itself, or an earlier one whose run it would repeat (a candidate
    setting only fields ConvLSTM never reads is ConvLSTM's `default`; `micro_rollout` is
    PeRCNN's `long_pretraining`)."""
    from pimrl_jax.models.registry import never_reads

    def read(c):
        return {f: v for f, v in pinned(config, c).items() if not never_reads(model, f)}

    mine = read(candidate)
    return next(c for c in names() if read(c) == mine)


def applies(model: str, candidate: str, config: ml_collections.ConfigDict) -> bool:
    """Whether `candidate` is a run of its own for `model`: no earlier candidate sets the fields
    `model` reads the same way (`equivalent`); `default` always is."""
    return equivalent(model, candidate, config) == candidate


def pinned(config: ml_collections.ConfigDict, candidate: str) -> dict:
    """Every field any candidate sets, with `candidate`'s value (the experiment's own where
    `candidate` sets none): what a tuning run of `candidate` is, whatever `config.tuned` says."""
    own = flatten(candidate_settings(config, candidate))
    fields = {}
    for other in names():
        fields.update(flatten(candidate_settings(config, other)))
    return {path: own.get(path, _get(config, path)) for path in fields}


def candidate_flags(config: ml_collections.ConfigDict, candidate: str) -> list[str]:
    """Command-line flags that pin every field any candidate sets to `candidate`'s values
    (`pinned`), so a tuning run is what its name says whatever `config.tuned` records."""
    return [f"--config.{path}={_flag_value(v)}" for path, v in pinned(config, candidate).items()]


def _get(config, path: str):
    node = config
    for key in path.split("."):
        node = node[key]
    return node


def _flag_value(value) -> str:
    if isinstance(value, tuple | list):
        return "(" + ",".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def flatten(tree: dict, prefix: str = "") -> dict:
    """`{"train": {"lr": 1e-3}}` -> `{"train.lr": 1e-3}`: the dotted config fields of a nested
    dict and their values (what the resume check, the reuse check and the candidates compare)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
