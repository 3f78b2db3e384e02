"""Train and evaluate one model of one experiment:

    python -m pimrl_jax.main --config experiments/kdv.py:quick --workdir runs/kdv-quick/pimrl
    python -m pimrl_jax.main --config experiments/kdv.py:quick --workdir runs/kdv-quick/fno \\
        --config.model.name=fno --config.train.steps=200
    python -m pimrl_jax.main --mode eval --config experiments/kdv.py:quick \\
        --workdir runs/kdv-quick/pimrl

`--mode train` (default) trains, resuming from the latest checkpoint in `<workdir>/checkpoints`
when there is one, then evaluates on the test set (`--noevaluate` skips that). `--mode eval`
evaluates the latest checkpoint. Rerunning a finished command only re-evaluates.

`pimrl_nomp` has no training of its own: it evaluates the PIMRL run stored next to its workdir,
`<workdir>/../pimrl` (i.e. `runs/<exp>-<profile>/pimrl`), and in train mode first trains (or
resumes) that run when it is absent or unfinished.

Exit status 1 with a one-paragraph message for the errors people make: a missing or stale
dataset (it names the `make data` command), an unknown model, a config that differs from the
stored run's (unless `--allow_config_change`), a diverged training stage, a damaged checkpoint
(training sets it aside and resumes from the newest intact one; evaluation refuses it), a bad
flag or config (`solvers.cli`). `--debug` shows the Python traceback instead.
"""

from __future__ import annotations

import os
import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "experiment config, e.g. experiments/kdv.py:quick", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory, e.g. runs/kdv-quick/pimrl")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval"], "train (then evaluate) or eval")
_EVALUATE = flags.DEFINE_bool("evaluate", True, "evaluate on the test set after training")
_ALLOW = flags.DEFINE_bool(
    "allow_config_change", False, "resume a run even if its stored config differs"
)
_PROGRESS = flags.DEFINE_bool("progress", True, "show a progress bar")
flags.mark_flags_as_required(["config", "workdir"])


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def _source(config, workdir: pathlib.Path, model):
    """(config, workdir) of the run whose params `model` uses: itself, or for pimrl_nomp the
    sibling pimrl run."""
    if model.params_from == model.name:
        return config, workdir
    source = config.copy_and_resolve_references()
    source.model.name = model.params_from
    return source, workdir.parent / model.params_from


def run(
    config,
    workdir: str,
    mode: str = "train",
    *,
    evaluate: bool = True,
    allow_config_change: bool = False,
    progress: bool = True,
) -> dict | None:
    """What the CLI does; returns the evaluation summary (None when not evaluated)."""
    import jax
    import numpy as np

    from pimrl_jax import train as train_lib
    from pimrl_jax.models.registry import REFERENCES, build_model
    from solvers import dataset as dataset_lib

    workdir = pathlib.Path(workdir)
    print(f"{config.experiment}:{config.profile}  model {config.model.name}  workdir {workdir}")
    print(f"jax {jax.__version__} on {jax.device_count()} {jax.devices()[0].platform} device(s)")
    try:
        model = build_model(config)
    except ValueError as error:
        _fail(str(error))
    try:
        dataset = dataset_lib.load(
            config.data.path, config.data, exp=config.experiment, profile=config.profile
        )
    except dataset_lib.DatasetError as error:
        _fail(str(error))

    sample = np.asarray(dataset["train"]["macro"][:1, 0], np.float32)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), sample)
    counts = train_lib.param_counts(shapes)
    print(
        "parameters: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + f" (total {sum(counts.values()):,})"
    )

    src_config, src_workdir = _source(config, workdir, model)
    src_model = model if src_config is config else build_model(src_config)
    train_time, machines = None, None
    try:
        if model.name in REFERENCES:
            print(f"{model.name} is a reference model: no parameters, nothing to train")
            params = {}
        elif mode == "train":
            if src_workdir != workdir:
                print(f"{model.name} evaluates the {src_model.name} run in {src_workdir}")
            info = train_lib.train(
                src_config,
                src_model,
                dataset,
                src_workdir,
                allow_config_change=allow_config_change,
                progress=progress,
            )
            params, train_time, machines = info.params, info.train_seconds, info.machines
            print(
                f"training done: {info.final_step} steps in {src_workdir / 'checkpoints'}"
                + (f" (resumed from step {info.resumed_from})" if info.resumed_from else "")
            )
        else:
            params, step = train_lib.restore_params(
                src_config, src_model, dataset, src_workdir, allow_config_change
            )
            total = train_lib.total_steps(src_model, src_config.train)
            print(f"evaluating the checkpoint at step {step} of {total} in {src_workdir}")
    except (
        train_lib.ConfigMismatchError,
        train_lib.CheckpointMismatchError,
        train_lib.CheckpointDamagedError,
        train_lib.NonFiniteLossError,
        FileNotFoundError,
    ) as error:
        _fail(str(error))
    # Training time summed over resumed invocations (a rerun of a finished run adds nothing).
    if not evaluate:
        return None

    from pimrl_jax.evaluate import evaluate as evaluate_fn
    from pimrl_jax.evaluate import evaluate_ensemble

    extra = {"train_time_s": train_time} if train_time is not None else None
    if machines:  # where its steps were trained (a run made before this was kept: none)
        extra = (extra or {}) | {"trained_on": machines}
    if train_lib.n_seeds(config) > 1 and model.name not in REFERENCES:
        evaluate_fn = evaluate_ensemble  # per seed into <workdir>/seed<s>, mean ± std here
    summary = evaluate_fn(config, model, params, dataset, str(workdir), extra=extra)
    test = np.asarray(dataset[config.eval.get("split", "test")]["macro"], np.float64)
    persistence = float(np.sqrt(np.mean(np.square(test[:, 1:] - test[:, :1]))))

    split = config.eval.get("split", "test")

    def fmt(x):
        return "n/a" if x is None else f"{x:.4g}"

    print(
        f"{split} set: RMSE {fmt(summary['rmse'])}  MAE {fmt(summary['mae'])}  "
        f"HCT {fmt(summary['hct'])}  (persistence u_t = u_0: RMSE {persistence:.4g})"
    )
    if summary.get("seeds"):
        print(
            f"  mean ± std over seeds {summary['seeds']}: RMSE {fmt(summary['rmse'])} ± "
            f"{fmt(summary['rmse_std'])}, HCT {fmt(summary['hct'])} ± {fmt(summary['hct_std'])}; "
            "per seed RMSE " + ", ".join(fmt(one["rmse"]) for one in summary["per_seed"])
        )
    if summary.get("diverged"):
        print(f"diverged at macro step {summary.get('divergence_step')}")
    print(f"results: {summary.get('results_path', workdir / 'results.json')}")
    for figure in summary.get("figures", []):
        print(f"figure: {figure}")
    return summary


def main(argv):
    del argv
    import jax

    logging.set_verbosity(logging.WARNING)  # absl's INFO lines (backend probing) are noise here
    from pimrl_jax import parallel

    try:  # one of several processes: join them (a no-op on one host)
        parallel.maybe_initialize_distributed()
    except parallel.DistributedSetupError as error:
        _fail(str(error))
    if not parallel.is_primary():
        # Process 0 reports progress for all; the others speak only on stderr (errors).
        sys.stdout = open(os.devnull, "w")

    # Reruns and resumptions reuse compiled steps (the test suite uses the same cache).
    cache = os.environ.get("PIMRL_JAX_CACHE", ".cache/jax")
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    from pimrl_jax import tuning

    overridden = config_flags.get_override_values(flags.FLAGS["config"])  # the command line
    try:
        config = tuning.apply_tuned(_CONFIG.value, overridden)
    except ValueError as error:
        _fail(str(error))
    run(
        config,
        _WORKDIR.value,
        _MODE.value,
        evaluate=_EVALUATE.value,
        allow_config_change=_ALLOW.value,
        progress=_PROGRESS.value,
    )


if __name__ == "__main__":
    from pimrl_jax import train as train_lib
    from solvers import cli

    user_errors = (
        train_lib.ConfigMismatchError,
        train_lib.CheckpointMismatchError,
        train_lib.CheckpointDamagedError,
        train_lib.NonFiniteLossError,
    )
    app.run(cli.guard(main, user_errors), flags_parser=cli.parse_flags)
