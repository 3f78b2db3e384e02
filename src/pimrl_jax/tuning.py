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

# Models without training of their own: whose parameters (and hence tuned settings) they use.
PARAMS_FROM = {"pimrl_nomp": "pimrl"}


def settings_of(config: ml_collections.ConfigDict, model: str) -> dict[str, object]:
    """The flat `{path: value}` settings `config.tuned` records for `model` (empty if none)."""
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


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
