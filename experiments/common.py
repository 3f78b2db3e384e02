"""Shared shape of every experiment config: sections `data`, `model`, `train`, `eval`.

Each `experiments/<exp>.py` defines `get_config(profile)` for the profiles in `PROFILES` and
builds its config with `make_config`, passing per-profile values. Everything here is a default
that an experiment may override; every field can also be overridden on the command line, e.g.
`--config.train.steps=200`.
"""

from ml_collections import ConfigDict

PROFILES = ("smoke", "quick", "paper")
EXPERIMENTS = ("kdv", "burgers", "fn", "gs2d", "gs3d")


def check_profile(profile: str) -> str:
    """Return `profile`, or raise a ValueError that lists the valid profiles."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return profile


def model_defaults() -> ConfigDict:
    """Model hyper-parameters shared by all systems (experiments override per system)."""
    return ConfigDict(
        dict(
            name="pimrl",  # one of pimrl_jax.models.registry.MODELS
            micro=dict(
                known_terms=("laplacian",),  # fixed stencils: "laplacian" and/or "dispersion"
                c_up=1.0,  # upper bound of each learned diffusion coefficient
                n_conv=3,  # parallel convolutions of the Pi-block
                kernel=1,  # their kernel size (1 for reaction-diffusion, 5 for advection)
                hidden=8,  # their output channels
                init_scale=0.02,  # PeRCNN's small Xavier-uniform scale
                impl="auto",  # PeriodicConv: "im2col" on CPU and GPU, "lax" on TPU
                integrator=None,  # None: data.micro_integrator ("euler" | "rk4")
                # 0: the paper's unbounded Pi-block; s > 0 (or one per field): s*tanh(Pi/s)
                saturation=0.0,
            ),
            macro=dict(
                features=(8, 16),  # encoder channels; each level halves the grid (stride 2)
                lstm_features=32,  # ConvLSTM hidden channels at the latent grid
                kernel=3,
                impl="auto",
            ),
            fno=dict(modes=12, width=20, layers=4),
            crop=dict(modes=12, width=20, layers=4, latent=32),
            message_passing=True,
            # jax.checkpoint around every step of a rollout (pimrl_jax.cycle): the backward pass
            # recomputes a step's internals instead of storing them. Same loss and gradients; on
            # 2 CPU cores most training steps get faster (1.2x in a kdv PIMRL run) and need
            # several times less memory (docs/performance.md, "Rematerialisation by default").
            remat=True,
        )
    )


def train_defaults() -> ConfigDict:
    """Training (pimrl_jax.train). Stages on one global step axis: `micro_steps` of micro
    pretraining on bursts (pimrl, percnn only), optionally `micro_rollout_steps` of PIMRL's micro
    module alone over macro windows, then `steps` on macro windows. Each stage gets a
    fresh Adam with global-norm clipping and a staircase decay,
    lr(i) = lr * lr_decay ** floor(i / lr_decay_every), i counted within the stage."""
    return ConfigDict(
        dict(
            micro_steps=500,  # stage 1: micro pretraining on bursts
            # Stage 3 (pimrl only, between 1 and 2; 0: none): the micro module alone over macro
            # windows, as PeRCNN trains, with its own window lengths (empty: `window`).
            micro_rollout_steps=0,
            micro_rollout_curriculum=(),
            steps=1000,  # stage 2: joint training on macro windows
            batch_size=4,
            window=8,  # macro steps per training window (multiple of data.N for pimrl)
            # pimrl's window starts: "cycle" (multiples of data.N) or "any" macro index
            window_starts="cycle",
            # Stage 2 curriculum: window lengths in order, over equal shares of `steps`
            # (empty: `window` throughout). E.g. (4, 8, 16).
            curriculum=(),
            # Noise on each rollout window's initial state (stages 2 and 3, not the bursts of
            # stage 1), drawn per batch, in units of each field's std (tuning: `noisy`).
            input_noise=0.0,
            # Pushforward (Brandstetter et al. 2022; tuning: `pushforward`): each rollout window
            # (stages 2 and 3) first advances this many steps with the model itself, without
            # gradient, and the loss is over the rest of the window from that predicted state,
            # so training sees the model's own errors at the input. 0: off.
            pushforward=0,
            # Noise on every observed training frame (macro frames and bursts), drawn once, in
            # units of each field's std (0.05: 5 %); validation and test stay clean.
            observation_noise=0.0,
            lr=1e-3,
            lr_decay=0.5,
            lr_decay_every=500,
            # Every stage's steps and lr_decay_every times this (rounded): a recipe shortened to
            # a compute allowance, same shape (pimrl_jax.tuning.record's `step_scale`).
            step_scale=1.0,
            grad_clip=1.0,
            freeze_micro=False,  # pimrl stage 2: keep the pretrained micro module fixed
            checkpoint_every=100,  # global steps; also at the end of each stage
            log_every=10,
            # Optimiser steps per dispatch to the device (a lax.while_loop over steps; bitwise
            # the same training as 1). Chunks end at every log/checkpoint step, so the host reads
            # the metrics once per chunk instead of once per step.
            steps_per_call=10,
            # Split each batch over all devices (pimrl_jax.parallel): same batches, same loss;
            # train.batch_size must be a multiple of jax.device_count().
            data_parallel=False,
            # Ensemble members trained in one vmapped program; member m is the run of seed
            # `seed + m` (pimrl_jax.train). 1: a plain run.
            seeds=1,
        )
    )


# The smoke profile only proves the wiring: a few steps of each stage, one PIMRL cycle per window
# (every smoke config has N = 2).
SMOKE_TRAIN = dict(micro_steps=4, steps=4, batch_size=2, window=2, checkpoint_every=4, log_every=2)


def eval_defaults() -> ConfigDict:
    """Test-set evaluation (pimrl_jax.evaluate): every test trajectory over the full horizon."""
    return ConfigDict(
        dict(
            hct_threshold=0.8,  # HCT: time until Pearson(pred, truth) first drops below this
            batch_size=8,  # test trajectories rolled out at once (lower it for large 3D grids)
            n_snapshots=4,  # snapshot times in figures/snapshots.png
            # Diverged: NaN/Inf or max-abs > this x max-abs of the test data. 10 (was 1e6 until the
            # tenth session, under which gs2d FNO seed 1 at RMSE 1086 counted as finite).
            divergence_factor=10.0,
            split="test",  # "val" for every choice; "test" only for the final evaluation
            diagnostics=True,  # Jacobian spectral radii at test states (pimrl_jax.diagnostics)
        )
    )


# Macro module (residual ConvLSTM autoencoder) sizes per profile: PhyCRNet's 8 -> 32 -> 128
# channels with a 128-channel ConvLSTM at paper scale; small enough to train in minutes on CPU at
# quick; tiny at smoke. Every learning grid of a profile is divisible by the total stride
# 2^len(features). An experiment overrides them through its `model["macro"]`.
MACRO_SIZES = {
    "smoke": dict(features=(4,), lstm_features=8, kernel=3),
    "quick": dict(features=(8, 16), lstm_features=32, kernel=3),
    "paper": dict(features=(8, 32, 128), lstm_features=128, kernel=3),
}


def make_config(
    exp: str,
    profile: str,
    data: dict,
    model: dict | None = None,
    train: dict | None = None,
) -> ConfigDict:
    """Assemble the full config of experiment `exp` at `profile`. `config.tuned` starts empty;
    an experiment records the settings a model won on validation with `pimrl_jax.tuning.record`
    (applied to that model's runs only, the command line still wins)."""
    check_profile(profile)
    config = ConfigDict()
    config.experiment = exp
    config.profile = profile
    config.seed = 0
    # The micro module's integrator is part of the data config: the closure report and the
    # stability check of `python -m solvers` are computed for it. Validation trajectories have
    # their own seed (train 1, test 2 in every experiment).
    config.data = ConfigDict(dict(dict(micro_integrator="euler", seed_val=3), **data))
    config.data.path = f"data/{exp}-{profile}.h5"
    config.model = model_defaults()
    config.model.macro.update(MACRO_SIZES[profile])
    with config.model.ignore_type():  # c_up: one float, or one per field
        config.model.update_from_flattened_dict(_flatten(model or {}))
    config.train = train_defaults()
    if profile == "smoke":
        config.train.update(SMOKE_TRAIN)
    config.train.update_from_flattened_dict(_flatten(train or {}))
    config.eval = eval_defaults()
    config.tuned = ConfigDict()
    return config


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
