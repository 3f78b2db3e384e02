"""Training: train state, losses, the stages, the jitted step and the loop with resume.

Stages (method.md §4), counted on one global step axis so that every step has its own key
`fold_in(train_key, step)` and checkpoints are numbered by global step:

* stage 1, "micro" — global steps [0, S1), S1 = `train.micro_steps`, only for models with a
  `micro_rollout` (pimrl, percnn): from the first frame u⁰ of a burst roll k micro steps and
  minimise  RMSE = sqrt(mean((M^j(u⁰) − u^j)²)), j = 1…k, over the burst's fine frames.
* stage 3, "micro_rollout" — optional, pimrl only, S3 = `train.micro_rollout_steps` steps right
  after stage 1: the micro module alone over macro windows, as PeRCNN trains (from u(t_s) roll
  k micro steps per macro frame, RMSE against the macro frames; any start s; window lengths
  `train.micro_rollout_curriculum`, or `train.window`). Trains only the micro module: a message
  that stays accurate over a cycle, not only over a burst.
* stage 2, "macro" — global steps [S1 + S3, … + `train.steps`): from u(t_s) roll `train.window`
  macro steps with `model.rollout` and minimise the RMSE against u(t_{s+1}) … u(t_{s+window}).
  Window starts s are any index, or multiples of N for pimrl when `train.window_starts` is
  "cycle" (`window_stride`). PIMRL's micro module is fine-tuned
  jointly, or frozen when `train.freeze_micro`.

Optimiser (every stage; a fresh one per stage): global-norm gradient clipping at
`train.grad_clip`, then Adam with a staircase exponential decay of the learning rate,
lr(i) = `train.lr` · `train.lr_decay` ^ floor(i / `train.lr_decay_every`), i the step within the
stage. Parameters outside the trained set get zero updates (`optax.multi_transform`).

The train state is a plain dict `{"params", "opt_state", "stage", "step"}`. Everything is float32.
A non-finite loss or parameter stops training with `NonFiniteLossError`; a state is checked
before it is checkpointed, so the last checkpoint is always a good one.

`train.steps_per_call` steps run on the device per dispatch (`repeat_steps`, a `lax.while_loop`
that stops after the first non-finite step): the host reads the losses and finiteness flags once
per call, not once per step, and calls end at every log and checkpoint step, stage end and
curriculum phase, so training is bitwise that of one step per call and the NaN stop still names
the first bad step.

Seed ensembles: `train.seeds = S` > 1 trains S independently initialised copies of the model,
each with its own batch stream, in one program (`jax.vmap` over a leading seed axis of params
and optimiser state; `stage` and `step` are shared). Member m is the run of seed
`config.seed + m` (`member_seeds`): its init and train keys are exactly those of a single run
with `--config.seed=<config.seed + m>`, so an ensemble with `seed = 0` holds the runs that
`make results` trains one by one (equal to float round-off: vmap batches the arithmetic
differently). The ensemble is checkpointed as one state (meta `seeds`); it stops like a single
run at the first non-finite step of any member, naming the member and its seed. S = 1 is the
plain program, bitwise unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import platform
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from pimrl_jax import data as data_lib
from pimrl_jax import parallel, tuning
from pimrl_jax.checkpoint import CheckpointDamagedError, Checkpoints, CheckpointStructureError
from pimrl_jax.models import registry

STAGE_NAMES = {1: "micro", 3: "micro_rollout", 2: "macro"}  # in the order they run
# Fields that change neither what is trained nor what is evaluated, only how fast, how it is laid
# out or how often it is reported: a finished run stays reusable (`compare.same_config`) and an
# interrupted one resumable when they differ.
NO_EFFECT_FIELDS = (
    "train.log_every",
    "train.checkpoint_every",
    "train.data_parallel",  # same batches and loss, only laid out over more devices
    "train.steps_per_call",  # same steps, bitwise; only dispatched several at a time
    # Rematerialisation: the same loss and gradients up to float32 round-off (tests/test_cycle.py,
    # tests/test_models.py); only the time and memory of a step change.
    "model.remat",
)
# Fields that may change between a run and its resumption: they do not change what is trained.
RESUMABLE_CHANGES = (
    *NO_EFFECT_FIELDS,
    "eval.",
    "data.path",
    "tuned.",  # every model's recorded choice; what applies to this run is compared as values
    # The validation split: evaluation reads it (the tuning protocol), training never does, and
    # the other splits stay bitwise the same when it grows (each split has its own seed).
    "data.n_val",
    "data.seed_val",
)
# Config fields added after runs were stored, with the value that does what the older code did: a
# stored run without the field counts as having that value (it stays resumable and reusable).
ADDED_FIELDS = {
    "train.observation_noise": 0.0,
    "train.seeds": 1,
    "train.micro_rollout_steps": 0,
    "train.micro_rollout_curriculum": [],
    "train.window_starts": "cycle",
    "model.micro.saturation": 0.0,
    "train.step_scale": 1.0,
    "train.pushforward": 0,
}


class NonFiniteLossError(RuntimeError):
    """A NaN/Inf loss or parameter; `stage`, `step` (global) and `last_good_step` say where."""

    def __init__(self, message: str, stage: int, step: int, last_good_step: int | None):
        super().__init__(message)
        self.stage, self.step, self.last_good_step = stage, step, last_good_step


class ConfigMismatchError(RuntimeError):
    """Resuming a run whose stored config differs from the current one."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose tree or shapes do not fit the model the current code builds."""


# ----------------------------------------------------------------------------------------------
# Losses and optimiser
# ----------------------------------------------------------------------------------------------


def rmse(pred: jax.Array, target: jax.Array) -> jax.Array:
    """sqrt(mean((pred − target)²)) over every axis (batch, time, space, channels)."""
    return jnp.sqrt(jnp.mean(jnp.square(pred - target)))


def mse(pred: jax.Array, target: jax.Array) -> jax.Array:
    """mean((pred − target)²) over every axis: a batch mean, so it splits over devices."""
    return jnp.mean(jnp.square(pred - target))


def make_loss(model, stage: int, error: Callable = rmse, pushforward: int = 0) -> Callable:
    """loss(params, (u0 (B, *space, C), target (B, n, *space, C))) -> scalar `error` (RMSE).

    Stage 1 predicts the n micro frames with `model.micro_rollout`, stage 3 the n macro frames
    with `model.micro_alone`, stage 2 with `model.rollout`; n is static (the target's length).

    `pushforward` = p > 0 (stages 2 and 3, windows of n > p frames): the model first advances
    p frames from u0 without gradient, and the loss is that of the n - p frames predicted from
    its own frame p against target[p:] — the pushforward trick (Brandstetter, Worrall & Welling,
    2022): the input distribution of training becomes the one of the model's rollouts.
    """
    rollout = {1: model.micro_rollout, 3: model.micro_alone, 2: model.rollout}[stage]
    p = 0 if stage == 1 else int(pushforward)

    def loss(params, batch):
        u0, target = batch
        n = target.shape[1]
        if 0 < p < n:
            u0 = jax.lax.stop_gradient(rollout(params, u0, p)[:, -1])
            target = target[:, p:]
            n -= p
        return error(rollout(params, u0, n), target)

    return loss


def stages_of(model, train_config) -> list[tuple[int, int]]:
    """[(stage, n_steps), …] that `model` trains, in order."""
    if model.params_from != model.name:
        raise ValueError(
            f"model {model.name!r} has no training of its own; it evaluates the parameters of "
            f"{model.params_from!r} (train that one)"
        )
    plan = []
    if model.micro_rollout is not None and train_config.micro_steps > 0:
        plan.append((1, scaled_steps(train_config, train_config.micro_steps)))
    if model.micro_alone is not None and train_config.get("micro_rollout_steps", 0) > 0:
        plan.append((3, scaled_steps(train_config, train_config.micro_rollout_steps)))
    plan.append((2, scaled_steps(train_config, train_config.steps)))
    return plan


def scaled_steps(train_config, steps: int) -> int:
    """`steps` × `train.step_scale`, rounded (at least 1 where `steps` > 0): a recipe shortened
    to a compute allowance keeps its shape — every stage, curriculum phase and learning-rate
    decay interval shrinks by the same factor."""
    scale = float(train_config.get("step_scale", 1.0))
    if scale <= 0:
        raise ValueError(f"train.step_scale must be > 0, got {scale}")
    return max(1, round(int(steps) * scale)) if int(steps) > 0 else 0


def param_labels(params: dict, stage: int, freeze_micro: bool) -> dict:
    """ "train"/"frozen" per top-level module: stages 1 and 3 train only "micro"; stage 2 trains
    all, except "micro" when `freeze_micro` and another module is left to train."""

    def label(name):
        if stage in (1, 3):
            return "train" if name == "micro" else "frozen"
        if freeze_micro and name == "micro" and len(params) > 1:
            return "frozen"
        return "train"

    return {name: jax.tree.map(lambda _, n=name: label(n), sub) for name, sub in params.items()}


def make_schedule(train_config) -> optax.Schedule:
    return optax.exponential_decay(
        init_value=float(train_config.lr),
        transition_steps=scaled_steps(train_config, train_config.lr_decay_every),
        decay_rate=float(train_config.lr_decay),
        staircase=True,
    )


def make_optimizer(train_config, params: dict, stage: int) -> optax.GradientTransformation:
    trained = optax.chain(
        optax.clip_by_global_norm(float(train_config.grad_clip)),
        optax.adam(make_schedule(train_config)),
    )
    labels = param_labels(params, stage, bool(train_config.freeze_micro))
    return optax.multi_transform({"train": trained, "frozen": optax.set_to_zero()}, labels)


def init_state(params: dict, tx: optax.GradientTransformation, stage: int, step: int) -> dict:
    return {
        "params": params,
        "opt_state": tx.init(params),
        "stage": jnp.asarray(stage, jnp.int32),
        "step": jnp.asarray(step, jnp.int32),
    }


def param_counts(params: dict) -> dict[str, int]:
    """Number of scalars per top-level module, e.g. {"micro": 262, "macro": 61441}."""
    return {k: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(v)) for k, v in params.items()}


# ----------------------------------------------------------------------------------------------
# The step
# ----------------------------------------------------------------------------------------------


def make_update(
    loss_fn: Callable,
    tx: optax.GradientTransformation,
    value_and_grad: Callable = jax.value_and_grad,
) -> Callable:
    """update(state, batch) -> (state, metrics): one optimiser step on a given batch (pure).

    metrics: loss (before the update), grad_norm, and `finite` — whether the loss and every
    updated parameter are finite. `value_and_grad` turns `loss_fn` into (params, batch) ->
    (loss, grads); see `parallel.data_parallel_value_and_grad` for the data-parallel one, which
    may take other inputs than a batch (then `update(state, *inputs)`).
    """
    loss_and_grads = value_and_grad(loss_fn)

    def update(state, *inputs):
        loss, grads = loss_and_grads(state["params"], *inputs)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        finite = jnp.isfinite(loss)
        for leaf in jax.tree.leaves(params):
            finite = finite & jnp.all(jnp.isfinite(leaf))
        new_state = dict(state, params=params, opt_state=opt_state, step=state["step"] + 1)
        return new_state, {"loss": loss, "grad_norm": optax.tree.norm(grads), "finite": finite}

    return update


def window_stride(model, config) -> int:
    """The spacing of stage-2 window starts: N for a model that runs the PIMRL cycle when
    `train.window_starts` is "cycle" (a window then begins a cycle where the burst-sampled data
    put one), 1 otherwise ("any": N times as many distinct windows; the cycle is autonomous, so a
    window may start it from any macro state, as a test rollout starts it from the first)."""
    starts = config.train.get("window_starts", "cycle")
    if starts not in ("cycle", "any"):
        raise ValueError(f"train.window_starts is {starts!r}; valid: cycle, any")
    cycle = model.name in ("pimrl", "pimrl_nomp") and starts == "cycle"
    return int(config.data.N) if cycle else 1


def data_parallel(config) -> bool:
    """Whether training splits batches over devices: `train.data_parallel`, and always when JAX
    runs as several processes (each then computes only its devices' share)."""
    return bool(config.train.get("data_parallel", False)) or jax.process_count() > 1


def curriculum(train_config, stage: int = 2) -> tuple[int, ...]:
    """A macro stage's window lengths, in order: `train.curriculum` for stage 2,
    `train.micro_rollout_curriculum` for stage 3 (e.g. (4, 8, 16): the unroll grows as the model
    learns to stay on the data, as PeRCNN's own scripts grow it 200 -> 400 -> 800 steps), or
    just `train.window`."""
    field = "curriculum" if stage == 2 else "micro_rollout_curriculum"
    windows = tuple(int(w) for w in (train_config.get(field) or ()))
    return windows or (int(train_config.window),)


def curriculum_window(train_config, i: int, n_steps: int, stage: int = 2) -> int:
    """The window of step `i` (0-based within macro stage `stage`): the stage's `n_steps` split
    into equal consecutive phases, one per `curriculum(train_config, stage)` entry."""
    windows = curriculum(train_config, stage)
    return windows[min(len(windows) - 1, i * len(windows) // max(n_steps, 1))]


def n_seeds(config) -> int:
    """`train.seeds`: ensemble members trained in one program (default 1: a plain run)."""
    value = config.train.get("seeds", 1)
    value = 1 if value is None else int(value)
    if value < 1:
        raise ValueError(f"train.seeds={value}: the number of ensemble members must be >= 1")
    return value


def member_seeds(config) -> list[int]:
    """The seed of each ensemble member: `config.seed + m`, m = 0 … train.seeds − 1 (member m
    is the run of `--config.seed=<config.seed + m>`)."""
    return [int(config.seed) + m for m in range(n_seeds(config))]


def member_config(config, m: int):
    """The config of a plain run equal to ensemble member `m` (seed `config.seed + m`, one
    seed): what its evaluation stores, so it reads exactly as that single run's."""
    single = config.copy_and_resolve_references()
    single.seed = int(config.seed) + m
    if "seeds" in single.train:
        single.train.seeds = 1
    return single


def ensemble_step(step: Callable) -> Callable:
    """The step of an ensemble: `step(state, data, train_key)` vmapped over the leading seed
    axis of `state["params"]`, `state["opt_state"]` and `train_keys` (S, 2); the data, `stage`
    and `step` are shared. Every metric gets a leading seed axis (S,)."""

    def multi(state, data, train_keys):
        def one(params, opt_state, key):
            member = dict(state, params=params, opt_state=opt_state)
            new, metrics = step(member, data, key)
            return new["params"], new["opt_state"], metrics

        params, opt_state, metrics = jax.vmap(one, in_axes=(0, 0, 0))(
            state["params"], state["opt_state"], train_keys
        )
        new_state = dict(state, params=params, opt_state=opt_state, step=state["step"] + 1)
        return new_state, metrics

    return multi


def steps_per_call(config) -> int:
    """`train.steps_per_call`: optimiser steps run on the device per dispatch (default 1)."""
    return max(1, int(config.train.get("steps_per_call", 1) or 1))


def repeat_steps(step: Callable, n: int) -> Callable:
    """multi(state, *inputs, count) -> (state, metrics): up to `n` (static) applications of
    `step(state, *inputs) -> (state, metrics)` in one `lax.while_loop`, `count` (a traced int
    ≤ n) of them, stopping early after the first step whose `metrics["finite"]` is False.

    Metrics come back as arrays of length `n` (loss and grad_norm NaN, finite False beyond the
    steps run; (n, S) for an ensemble step), so the host reads them once per call; the first
    False of `finite` is the first bad step, and the state returned is the one right after it
    (as with one step per call).
    """

    def multi(state, *args):
        *inputs, count = args
        _, template = jax.eval_shape(step, state, *inputs)
        empty = {
            k: jnp.full((n, *v.shape), jnp.nan if v.dtype != jnp.bool_ else False, v.dtype)
            for k, v in template.items()
        }

        def cond(carry):
            i, _, _, ok = carry
            return (i < count) & ok

        def body(carry):
            i, state, history, _ = carry
            state, metrics = step(state, *inputs)
            history = {k: history[k].at[i].set(metrics[k]) for k in history}
            return i + 1, state, history, jnp.all(metrics["finite"])  # every ensemble member

        carry = (jnp.asarray(0, jnp.int32), state, empty, jnp.asarray(True))
        _, state, history, _ = jax.lax.while_loop(cond, body, carry)
        return state, history

    return multi


def make_train_step(
    model,
    config,
    stage: int,
    tx: optax.GradientTransformation,
    window: int | None = None,
    n_per_call: int = 1,
) -> Callable:
    """step(state, data, train_key) -> (state, metrics), jitted, state donated.

    With `train.seeds` = S > 1 the state has a leading seed axis on params and optimiser state,
    `train_key` is (S, 2) (`ensemble_keys`) and every metric is (S,) (`ensemble_step`).

    With `n_per_call` > 1: step(state, data, train_key, count) runs `count` ≤ `n_per_call`
    steps on the device in one dispatch (`repeat_steps`; metrics are arrays of length
    `n_per_call`); the parameters are bitwise those of `count` single steps.

    The batch is drawn from `fold_in(train_key, state["step"])`: the same step always sees the
    same batch, whether or not the run was interrupted. Data-parallel (`data_parallel(config)`),
    the devices of every process share that same batch (`pimrl_jax.parallel`): state and data
    are replicated, each device draws only its own rows of the batch, the loss is sqrt of the
    devices' averaged MSE (the RMSE of the whole batch), the gradients are averaged.
    """
    batch_size = int(config.train.batch_size)
    window = int(config.train.window) if window is None else int(window)
    stride = window_stride(model, config) if stage == 2 else 1
    # train.input_noise: on each rollout window's initial state (stages 2 and 3), not on the
    # bursts of the micro pretraining, whose one-micro-step targets would teach it to smooth.
    noise = 0.0 if stage == 1 else float(config.train.get("input_noise", 0.0) or 0.0)
    pushforward = int(config.train.get("pushforward", 0) or 0)
    if pushforward < 0:
        raise ValueError(f"train.pushforward must be >= 0 (macro steps), got {pushforward}")

    def draw(data, key, *, start=0, count=None):
        if stage == 1:
            u0, target = data_lib.sample_bursts(
                data["bursts"], key, batch_size, start=start, count=count
            )
        else:
            u0, target = data_lib.sample_windows(
                data["macro"], key, batch_size, window, stride, start=start, count=count
            )
        if noise > 0:  # its own key: with noise 0 the batches are those of a run without it
            u0 = data_lib.add_input_noise(
                u0,
                jax.random.fold_in(key, 7),
                data["scale"],
                noise,
                start=start,
                count=count,
                batch_size=batch_size,
            )
        return u0, target

    mesh = None
    if data_parallel(config) and n_seeds(config) > 1:
        raise ValueError(
            f"train.seeds={n_seeds(config)} (an ensemble in one program) does not combine with "
            "data-parallel training (train.data_parallel or several processes); train the seeds "
            "one by one (--config.seed=<s>) or set train.seeds=1"
        )
    if data_parallel(config):
        mesh = parallel.make_data_mesh()
        dp = functools.partial(
            parallel.data_parallel_value_and_grad,
            mesh=mesh,
            finalize=jnp.sqrt,
            draw=draw,
            batch_size=batch_size,
        )
        update = make_update(make_loss(model, stage, error=mse, pushforward=pushforward), tx, dp)

        def step(state, data, train_key):
            return update(state, data, jax.random.fold_in(train_key, state["step"]))
    else:
        update = make_update(make_loss(model, stage, pushforward=pushforward), tx)

        def step(state, data, train_key):
            return update(state, draw(data, jax.random.fold_in(train_key, state["step"])))

    if n_seeds(config) > 1:
        step = ensemble_step(step)
    if n_per_call > 1:
        step = repeat_steps(step, n_per_call)
    jitted = jax.jit(step, donate_argnums=0)
    if mesh is None:
        return jitted

    def replicated_step(state, data, train_key, *count):
        # A no-op once the arrays live on the mesh (from the second step on).
        return jitted(*parallel.put_replicated((state, data, train_key), mesh), *count)

    replicated_step.lower = lambda *args: jitted.lower(*parallel.put_replicated(args, mesh))
    return replicated_step


# ----------------------------------------------------------------------------------------------
# Config stored with the run
# ----------------------------------------------------------------------------------------------


def config_to_flat(config: ml_collections.ConfigDict) -> dict:
    """{"train.lr": 0.001, …}, JSON-normalised (tuples become lists)."""
    return tuning.flatten(json.loads(config.to_json_best_effort()))


def config_differences(stored: dict, current: dict) -> list[str]:
    """Fields (dotted names) whose values differ, ignoring `RESUMABLE_CHANGES` and the
    model-specific fields the run's model never reads (`registry.never_reads`)."""
    name = current.get("model.name")
    same_model = stored.get("model.name") == name
    names = sorted(set(stored) | set(current))
    return [
        n
        for n in names
        if stored.get(n, ADDED_FIELDS.get(n, "<absent>"))
        != current.get(n, ADDED_FIELDS.get(n, "<absent>"))
        and not registry.field_in(n, RESUMABLE_CHANGES)
        and not (same_model and registry.never_reads(name, n))
    ]


def check_config(
    workdir: pathlib.Path, config, allow_change: bool, resuming: bool, write: bool = True
) -> None:
    """Refuse to resume with a different config (naming the fields); then store this one
    (unless `write` is False, as when only evaluating)."""
    path = workdir / "config.json"
    current = config_to_flat(config)
    if resuming and path.exists():
        try:
            stored = json.loads(path.read_text())
        except ValueError as error:
            raise ConfigMismatchError(
                f"{path}, the stored config of this run, is damaged ({error}); delete it (the "
                "current config is then stored) or use another --workdir."
            ) from error
        diff = config_differences(stored, current)
        if diff:
            lines = [
                f"  {n}: stored {stored.get(n, '<absent>')!r}, now {current.get(n, '<absent>')!r}"
                for n in diff
            ]
            detail = "\n".join(lines)
            if not allow_change:
                raise ConfigMismatchError(
                    f"{workdir} holds a run with a different config:\n{detail}\n"
                    "Run with the stored config, use another --workdir, or pass "
                    "--allow_config_change to continue anyway."
                )
            print(f"warning: continuing {workdir} with a changed config:\n{detail}")
    if write:
        store_config(workdir, config)


def store_config(workdir: pathlib.Path, config) -> None:
    """Write `config.json` (process 0 only; atomically, as other processes may be reading it)."""
    if jax.process_index() == 0:
        text = json.dumps(config_to_flat(config), indent=1, sort_keys=True)
        tmp = workdir / "config.json.tmp"
        tmp.write_text(text + "\n")
        tmp.replace(workdir / "config.json")


# ----------------------------------------------------------------------------------------------
# Logging (process 0 only): metrics.jsonl, TensorBoard, a progress bar
# ----------------------------------------------------------------------------------------------


class MetricLog:
    """One JSON line per log step in `metrics.jsonl` and the same scalars as TensorBoard events
    under `tensorboard/` (the first record of a stage includes its compile time in steps/s).
    On resume, lines past the restored step are dropped so the file reads as one uninterrupted
    run. Only process 0 writes; the event file is opened at the first record."""

    def __init__(self, workdir: pathlib.Path, resumed_step: int):
        self.enabled = jax.process_index() == 0
        self.workdir, self.writer = workdir, None
        if not self.enabled:
            return
        self.path = workdir / "metrics.jsonl"
        if self.path.exists():
            kept = [
                line
                for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= resumed_step
            ]
            self.path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is None:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(str(self.workdir / "tensorboard"))
        for name in ("loss", "lr", "steps_per_s"):
            self.writer.add_scalar(f"train/{name}", record[name], record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunInfo:
    """What `train` did: the final params and where it started/stopped (global steps)."""

    params: dict
    resumed_from: int | None
    final_step: int
    train_seconds: float  # wall time spent training, summed over every resumed invocation
    machines: list[str]  # `machine()` of every invocation that trained steps of the run


@functools.cache
def machine() -> str:
    """This process's machine in one line: CPU model and cores, jax and its device kind. Training
    is bitwise reproducible on one machine (resume tests), not across CPUs (XLA's code differs),
    so every run records where it was trained."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu
            )
    except OSError:
        pass
    device = jax.devices()[0]
    return (
        f"{cpu} ({os.cpu_count()} cores), jax {jax.__version__} on {jax.device_count()} "
        f"{device.device_kind}"
    )


def _keys(config):
    """(init key, train key) of the run; (S, 2) each for an ensemble, row m that of seed
    `config.seed + m` (`member_seeds`)."""
    if n_seeds(config) == 1:
        root = jax.random.PRNGKey(int(config.seed))
        return jax.random.fold_in(root, 0), jax.random.fold_in(root, 1)  # init, train
    keys = [_keys(member_config(config, m)) for m in range(n_seeds(config))]
    return tuple(jnp.stack(k) for k in zip(*keys, strict=True))


def _abstract(tree):
    """Where a restored state goes: this process's first device, or, with several processes,
    every device of every process (replicated), as the data-parallel step wants it."""
    if jax.process_count() > 1:
        where = parallel.replicated(parallel.make_data_mesh())
    else:
        where = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=where), tree)


def _sample(dataset: dict) -> np.ndarray:
    """One training frame (1, *space, C), the input shape `model.init` needs."""
    return np.asarray(dataset["train"]["macro"][:1, 0], np.float32)


def _restore(ckpts: Checkpoints, step: int, model, config, sample):
    """The state saved at `step`, restored into the structure the current model/config build
    and verified against its digest; a CheckpointMismatchError when they no longer match it
    (other code or config), a CheckpointDamagedError when it cannot be read back as saved."""
    meta = ckpts.restore_meta(step)
    try:
        abstract = jax.eval_shape(
            lambda: _stage_state(model, config, sample, meta["stage"], step)[0]
        )
        return ckpts.restore(step, _abstract(abstract), meta), meta
    except (CheckpointStructureError, ValueError, KeyError, TypeError) as error:
        raise CheckpointMismatchError(
            f"the checkpoint at step {step} in {ckpts.directory} does not fit the current "
            f"{model.name} model ({str(error).splitlines()[0]}); it was made by other code or "
            "another config. Retrain in a fresh --workdir (or delete this one)."
        ) from error


def restore_newest_intact(ckpts: Checkpoints, model, config, sample):
    """(state, meta, step) of the newest checkpoint that restores and verifies, or None when
    there is none. Each damaged one on the way is reported (its step, path and why) and set
    aside (`Checkpoints.set_aside`, never deleted), so the run goes on from an intact one."""
    for step in sorted(ckpts.all_steps(), reverse=True):
        try:
            state, meta = _restore(ckpts, step, model, config, sample)
        except CheckpointDamagedError as error:
            moved = ckpts.set_aside(step) if jax.process_index() == 0 else error.path
            print(f"warning: {error}; set aside as {moved}", file=sys.stderr, flush=True)
            continue
        return state, meta, step
    return None


def intact_steps(ckpts: Checkpoints, model, config, sample) -> list[int]:
    """The steps whose checkpoints restore and verify (nothing is moved)."""
    intact = []
    for step in ckpts.all_steps():
        try:
            _restore(ckpts, step, model, config, sample)
        except (CheckpointDamagedError, CheckpointMismatchError):
            continue
        intact.append(step)
    return sorted(intact)


def _stage_state(model, config, sample, stage: int, step: int, params=None):
    init_key, _ = _keys(config)
    ensemble = n_seeds(config) > 1
    if params is None:
        # One compiled init instead of many small eager ops (seconds on CPU for Flax modules).
        init = jax.vmap(model.init, in_axes=(0, None)) if ensemble else model.init
        params = jax.jit(init)(init_key, sample)
    if not ensemble:
        tx = make_optimizer(config.train, params, stage)
        return init_state(params, tx, stage, step), tx
    member = jax.tree.map(lambda x: x[0], params)
    tx = make_optimizer(config.train, member, stage)
    state = {
        "params": params,
        "opt_state": jax.vmap(tx.init)(params),
        "stage": jnp.asarray(stage, jnp.int32),
        "step": jnp.asarray(step, jnp.int32),
    }
    return state, tx


def train(
    config,
    model,
    dataset: dict,
    workdir: str | pathlib.Path,
    *,
    allow_config_change: bool = False,
    progress: bool = True,
) -> RunInfo:
    """Train `model` on `dataset["train"]`, checkpointing into `workdir/checkpoints`.

    Resumes from the latest finished checkpoint when there is one (also across stages). A
    checkpoint is written every `train.checkpoint_every` global steps and at the end of each
    stage. Raises `ConfigMismatchError` or `NonFiniteLossError` (see the module docstring).
    """
    from tqdm import tqdm

    ensemble = n_seeds(config) > 1
    noise = float(config.train.get("observation_noise", 0.0) or 0.0)
    if ensemble and noise > 0:  # each seed's run has its own noisy data; the ensemble shares one
        raise ValueError(
            f"train.seeds={n_seeds(config)} shares one copy of the training data between the "
            f"members, but train.observation_noise={noise} draws other noise for each seed; "
            "train the seeds one by one (--config.seed=<s>) or set train.seeds=1"
        )
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    plan = stages_of(model, config.train)
    # train.observation_noise: noisy observed frames, from their own key (0: untouched data).
    noise_key = jax.random.fold_in(jax.random.PRNGKey(int(config.seed)), 2)
    noise = float(config.train.get("observation_noise", 0.0) or 0.0)
    data = data_lib.training_arrays(dataset["train"], noise, noise_key)
    sample = _sample(dataset)
    _, train_key = _keys(config)
    several = jax.process_count() > 1
    if data_parallel(config):
        # Placed once on every device (of every process), not at each step.
        mesh = parallel.make_data_mesh()
        parallel.check_batch_size(int(config.train.batch_size), mesh)
        data, train_key = parallel.put_replicated((data, train_key), mesh)
    ckpts = Checkpoints(workdir / "checkpoints")
    log = None
    try:
        resuming = ckpts.latest_step() is not None
        check_config(workdir, config, allow_config_change, resuming=resuming, write=False)
        found = restore_newest_intact(ckpts, model, config, sample) if resuming else None
        if found is None:
            if resuming:
                print("warning: no intact checkpoint is left; training from the start")
            state, tx = _stage_state(model, config, sample, plan[0][0], 0)
            latest, step, seconds_before, machines = None, 0, 0.0, []
        else:
            state, meta, latest = found
            step, seconds_before = latest, float(meta.get("train_seconds", 0.0))
            machines = list(meta.get("machines", []))
            stage_name = STAGE_NAMES[meta["stage"]]
            print(f"resumed from the checkpoint at step {latest} ({stage_name} stage)")
        store_config(workdir, config)  # only once the stored run is known to fit this config
        log = MetricLog(workdir, resumed_step=step)
        last_saved, train_seconds, t_begin = latest, seconds_before, time.perf_counter()
        ckpt_every = max(1, int(config.train.checkpoint_every))
        log_every = max(1, int(config.train.log_every))
        start = 0
        for stage, n_steps in plan:
            begin, end = start, start + n_steps
            start = end
            if step >= end:
                continue
            if int(state["stage"]) != stage:  # entering this stage: fresh optimiser
                params = parallel.host_copy(state["params"]) if several else state["params"]
                state, tx = _stage_state(model, config, sample, stage, step, params)
            else:
                tx = make_optimizer(config.train, state["params"], stage)
            schedule = make_schedule(config.train)

            def window_at(step, stage=stage, begin=begin, n_steps=n_steps):
                if stage == 1:
                    return None
                return curriculum_window(config.train, step - begin, n_steps, stage)

            window = window_at(step)
            n_call = steps_per_call(config)
            step_fn = make_train_step(model, config, stage, tx, window, n_call)
            bar = tqdm(
                total=n_steps,
                initial=step - begin,
                desc=f"stage {stage} ({STAGE_NAMES[stage]})",
                disable=not progress or jax.process_index() != 0,
                dynamic_ncols=True,
            )
            losses, t0, n0 = [], time.perf_counter(), step
            while step < end:
                if window_at(step) != window:  # the next phase of the curriculum
                    window = window_at(step)
                    step_fn = make_train_step(model, config, stage, tx, window, n_call)
                # Steps run on the device in one call: up to the next log, checkpoint, stage
                # end or curriculum phase, so those happen exactly where they did one by one.
                count = min(
                    n_call,
                    end - step,
                    log_every - step % log_every,
                    ckpt_every - step % ckpt_every,
                )
                count = next((j for j in range(1, count) if window_at(step + j) != window), count)
                if n_call == 1:
                    state, metrics = step_fn(state, data, train_key)
                    metrics = jax.tree.map(lambda x: np.asarray(x)[None], metrics)
                else:
                    state, metrics = step_fn(state, data, train_key, np.int32(count))
                    metrics = jax.device_get(metrics)  # one transfer per call
                # (count,) per step, or (count, S) for an ensemble
                chunk_loss = np.asarray(metrics["loss"][:count], np.float64)
                chunk_finite = np.asarray(metrics["finite"][:count], bool)
                if not chunk_finite.all():
                    bad = int(np.flatnonzero(~chunk_finite.reshape(count, -1).all(axis=1))[0])
                    step, loss = step + bad + 1, chunk_loss[bad]
                    who = ""
                    if ensemble:
                        m = int(np.flatnonzero(~chunk_finite[bad])[0])
                        loss = loss[m]
                        who = f" of ensemble member {m} (seed {member_seeds(config)[m]})"
                    raise NonFiniteLossError(
                        f"non-finite loss or parameters{who} in stage {stage} "
                        f"({STAGE_NAMES[stage]}) "
                        f"at step {step - begin} of {n_steps} (global step {step}, loss {loss}); "
                        f"training stopped, the last good checkpoint is step {last_saved} in "
                        f"{ckpts.directory}. Lower train.lr (now {config.train.lr}) or "
                        f"train.grad_clip and rerun with --allow_config_change.",
                        stage,
                        step,
                        last_saved,
                    )
                step += count
                losses.extend(chunk_loss)  # floats, or (S,) rows for an ensemble
                bar.update(count)
                if step % log_every == 0 or step == end:
                    rate = (step - n0) / max(time.perf_counter() - t0, 1e-9)
                    record = {
                        "stage": stage,
                        "window": window,
                        "step": step,
                        "loss": float(np.mean(losses)),
                        "lr": float(schedule(step - begin - 1)),
                        "steps_per_s": rate,
                    }
                    if ensemble:  # "loss" is the members' mean
                        per_seed = np.mean(losses, axis=0)
                        record["loss_per_seed"] = [float(x) for x in per_seed]
                    log.write(record)
                    bar.set_postfix(loss=f"{record['loss']:.4g}", steps_per_s=f"{rate:.3g}")
                    losses, t0, n0 = [], time.perf_counter(), step
                if step % ckpt_every == 0 or step == end:
                    train_seconds = seconds_before + time.perf_counter() - t_begin
                    if machine() not in machines:  # this invocation trained steps here
                        machines.append(machine())
                    meta = {"stage": stage, "step": step, "model": model.name}
                    if ensemble:
                        meta["seeds"] = member_seeds(config)
                    meta |= {"train_seconds": train_seconds, "machines": machines}
                    ckpts.save(step, state, meta)
                    last_saved = step
            bar.close()
    finally:
        ckpts.close()
        if log is not None:
            log.close()
    # With several processes the params span all of them: hand back this host's copy, which
    # process-local code (the evaluation) can use.
    params = parallel.host_copy(state["params"]) if several else state["params"]
    return RunInfo(
        params=params,
        resumed_from=latest,
        final_step=step,
        train_seconds=train_seconds,
        machines=machines,
    )


def restore_params(
    config, model, dataset: dict, workdir: str | pathlib.Path, allow_config_change: bool = False
) -> tuple[dict, int]:
    """The params of the latest checkpoint in `workdir` and its step; FileNotFoundError when
    there is none, ConfigMismatchError when the run's stored config differs from `config`,
    CheckpointDamagedError (naming the intact steps) when the latest one is damaged."""
    workdir = pathlib.Path(workdir)
    ckpts = Checkpoints(workdir / "checkpoints")
    try:
        latest = ckpts.latest_step()
        if latest is None:
            raise FileNotFoundError(
                f"no checkpoint in {workdir / 'checkpoints'}; train first (make train "
                f"EXP={config.experiment} PROFILE={config.profile} MODEL={model.params_from})"
            )
        check_config(workdir, config, allow_config_change, resuming=True, write=False)
        sample = _sample(dataset)
        try:
            params = _restore(ckpts, latest, model, config, sample)[0]["params"]
            if jax.process_count() > 1:
                params = parallel.host_copy(params)  # for process-local evaluation
            return params, latest
        except CheckpointDamagedError as error:
            intact = intact_steps(ckpts, model, config, sample)
            have = (
                f"intact checkpoints: step{'s' if len(intact) > 1 else ''} "
                f"{', '.join(map(str, intact))}"
                if intact
                else "no intact checkpoint is left"
            )
            retrain = (
                f"make train EXP={config.experiment} PROFILE={config.profile} "
                f"MODEL={model.params_from}"
            )
            raise CheckpointDamagedError(
                error.step,
                error.path,
                f"{error.reason}. Refusing to evaluate it ({have}). Rerun the training "
                f"({retrain}, or the same python -m pimrl_jax.main command in train mode): it "
                "sets the damaged checkpoint aside and trains on from the newest intact one.",
            ) from error
    finally:
        ckpts.close()


def total_steps(model, train_config) -> int:
    return sum(n for _, n in stages_of(model, train_config))


__all__ = [
    "CheckpointDamagedError",
    "CheckpointMismatchError",
    "ConfigMismatchError",
    "NonFiniteLossError",
    "RunInfo",
    "make_loss",
    "make_optimizer",
    "make_train_step",
    "make_update",
    "mse",
    "param_counts",
    "restore_params",
    "rmse",
    "stages_of",
    "total_steps",
    "train",
]
