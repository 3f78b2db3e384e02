"""The model registry: every model of the comparison behind one pure interface.

`build_model(config)` binds the config's values into closures over the pure rollouts of
`pimrl_jax.cycle`; nothing below the registry parses a config. All models compute in float32.

| name | params | rollout at Δt | micro_rollout at δt |
|---|---|---|---|
| pimrl | {"micro", "macro"} | PIMRL cycles, message passing on | micro module |
| pimrl_nomp | pimrl's {"micro", "macro"} | the cycles, message passing off | micro module |
| percnn | {"micro"} | k micro steps per Δt, every k-th state | micro module |
| convlstm | {"macro"} | macro module alone | None |
| fno | {"fno"} | FNO, autoregressive at Δt | None |
| crop | {"crop"} | CROP, autoregressive at Δt | None |
| persistence | {} (no training) | u_j = u_0 for every j | None |
| oracle | {} (no training) | k steps of the true PDE in the micro module's form per Δt | same |

The two reference rows (benchmarks.md) have no parameters and no training: `persistence` is the
floor every model must beat; `oracle` (`solvers.finite_difference`: the micro module's stencils
and integrator at δt with the true coefficients) shows what exact physics alone achieves on the
learning grid.
"""

import dataclasses
import importlib
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from pimrl_jax import cycle
from pimrl_jax.models.macro import MacroStep
from pimrl_jax.models.micro import MicroStep

LEARNED: tuple[str, ...] = ("pimrl", "pimrl_nomp", "percnn", "convlstm", "fno", "crop")
REFERENCES: tuple[str, ...] = ("persistence", "oracle")
MODELS: tuple[str, ...] = LEARNED + REFERENCES
# Models without training of their own: whose trained parameters they evaluate.
PARAMS_FROM: dict[str, str] = {"pimrl_nomp": "pimrl"}
# The model-specific config fields, and the ones each model reads (prefixes ending in "." name a
# section). A field a model does not read cannot change its run: a finished ConvLSTM run stays
# valid when PeRCNN's Π-block settings change (`train.config_differences`).
# How PIMRL alone trains: its micro_rollout stage, its frozen micro module, its window starts.
_PIMRL_TRAINING = (
    "train.micro_rollout_steps",
    "train.micro_rollout_curriculum",
    "train.freeze_micro",
    "train.window_starts",
)
MODEL_SPECIFIC: tuple[str, ...] = (
    "model.micro.",
    "model.macro.",
    "model.fno.",
    "model.crop.",
    "model.message_passing",
    "train.micro_steps",
    *_PIMRL_TRAINING,
)
_PIMRL_READS = (
    "model.micro.",
    "model.macro.",
    "model.message_passing",
    "train.micro_steps",
    *_PIMRL_TRAINING,
)
READS: dict[str, tuple[str, ...]] = {
    "pimrl": _PIMRL_READS,
    "pimrl_nomp": _PIMRL_READS,
    "percnn": ("model.micro.", "train.micro_steps"),
    "convlstm": ("model.macro.",),
    "fno": ("model.fno.",),
    "crop": ("model.crop.",),
    "persistence": (),
    "oracle": (),  # the true PDE of `config.data` in the micro module's form
}


def unread_fields(name: str) -> tuple[str, ...]:
    """The model-specific config fields (prefixes) that model `name` never reads."""
    return tuple(f for f in MODEL_SPECIFIC if f not in READS[check_name(name)])


def field_in(field: str, prefixes) -> bool:
    """Whether config field `field` (dotted) is one of `prefixes` or lies in one of their
    sections (a prefix ending in ".")."""
    return any(field == p or (p.endswith(".") and field.startswith(p)) for p in prefixes)


def never_reads(name: str, field: str) -> bool:
    """Whether model `name` never reads config field `field` (dotted); an unknown name reads all."""
    return name in READS and field_in(field, unread_fields(name))


@dataclasses.dataclass(frozen=True)
class Model:
    """A model of the comparison as pure functions.

    init(key, u_sample: (B, *space, C)) -> params (dict pytree)
    rollout(params, u0: (B, *space, C), n_steps [static]) -> (B, n_steps, *space, C): the
        predicted macro frames u_1..u_n at spacing Δt (u0 is not in the output)
    micro_rollout(params, u0, n_micro [static]) -> (B, n_micro, *space, C) at spacing δt, or None
    params_from: the model whose trained params this one evaluates
    micro_alone(params, u0, n_steps [static]) -> (B, n_steps, *space, C): the micro module alone
        at spacing Δt (k micro steps per frame, PeRCNN's rollout), for a model whose `rollout`
        is something else (pimrl: its "micro_rollout" training stage); else None
    """

    name: str
    init: Callable
    rollout: Callable
    micro_rollout: Callable | None
    params_from: str
    micro_alone: Callable | None = None


def check_name(name: str) -> str:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    return name


def micro_module(config: ml_collections.ConfigDict) -> MicroStep:
    """The micro step of `config` (dx = length / grid, δt = data.dt)."""
    m = config.model.micro
    c_up = m.c_up if isinstance(m.c_up, int | float) else tuple(m.c_up)
    saturation = m.get("saturation") or None  # 0 (the default): unbounded
    if saturation is not None and not isinstance(saturation, int | float):
        saturation = tuple(float(s) for s in saturation)
    return MicroStep(
        dx=float(config.data.length) / int(config.data.grid),
        dt=float(config.data.dt),
        known_terms=tuple(m.known_terms),
        c_up=c_up,
        n_conv=int(m.n_conv),
        kernel=int(m.kernel),
        hidden=int(m.hidden),
        init_scale=float(m.init_scale),
        impl=m.get("impl", "auto"),
        integrator=m.get("integrator") or config.data.get("micro_integrator", "euler"),
        saturation=saturation,
    )


def macro_module(config: ml_collections.ConfigDict) -> MacroStep:
    m = config.model.macro
    return MacroStep(
        features=tuple(int(f) for f in m.features),
        lstm_features=int(m.lstm_features),
        kernel=int(m.kernel),
        impl=m.get("impl", "auto"),
    )


def _operator_module(name: str, config: ml_collections.ConfigDict):
    """FNO or CROP from their own files (imported here, so the other models never need them)."""
    cls_name = name.upper()
    try:
        cls = getattr(importlib.import_module(f"pimrl_jax.models.{name}"), cls_name)
    except (ImportError, AttributeError) as err:
        raise ImportError(
            f"model {name!r} needs {cls_name} from pimrl_jax/models/{name}.py: {err}"
        ) from err
    return cls(**{key: int(value) for key, value in config.model[name].items()})


def _f32(u):
    return jnp.asarray(u, jnp.float32)


def _applier(module) -> Callable:
    """apply(params, *inputs) of a Linen module."""
    return lambda params, *inputs: module.apply({"params": params}, *inputs)


def build_model(config: ml_collections.ConfigDict) -> Model:
    """The `Model` named by `config.model.name`; raises ValueError listing MODELS if unknown."""
    name = check_name(config.model.name)
    remat = bool(config.model.get("remat", False))
    k, N = int(config.data.k), int(config.data.N)

    if name in REFERENCES:
        return _reference_model(name, config)

    if name in ("fno", "crop"):
        module = _operator_module(name, config)
        step = _applier(module)

        def init(key, u_sample):
            return {name: module.init(key, _f32(u_sample))["params"]}

        def rollout(params, u0, n_steps):
            return cycle.micro_rollout(step, params[name], _f32(u0), n_steps, remat)

        return Model(name, init, rollout, None, name)

    if name == "convlstm":
        macro = macro_module(config)
        macro_apply = _applier(macro)

        def init(key, u_sample):
            return {"macro": macro.init(key, _f32(u_sample), None)["params"]}

        def rollout(params, u0, n_steps):
            return cycle.macro_rollout(macro_apply, params["macro"], _f32(u0), n_steps, remat)

        return Model(name, init, rollout, None, name)

    micro = micro_module(config)
    micro_apply = _applier(micro)
    # A micro step with the hand-written VJP already stores only its input: checkpointing it as
    # well made PeRCNN's training step 0.81x as fast on fn quick. PIMRL's cycle keeps `remat`
    # for both modules: there the micro steps checkpointed with the macro steps were faster
    # (docs/performance.md, "Rematerialisation by default").
    micro_remat = remat and not micro.uses_custom_vjp()

    def micro_rollout(params, u0, n_micro):
        return cycle.micro_rollout(micro_apply, params["micro"], _f32(u0), n_micro, micro_remat)

    if name == "percnn":

        def init(key, u_sample):
            return {"micro": micro.init(key, _f32(u_sample))["params"]}

        def rollout(params, u0, n_steps):
            return cycle.strided_micro_rollout(
                micro_apply, params["micro"], _f32(u0), n_steps, k, micro_remat
            )

        return Model(name, init, rollout, micro_rollout, name)

    # pimrl and pimrl_nomp: the same parameters, message passing on or off.
    macro = macro_module(config)
    macro_apply = _applier(macro)
    message_passing = name == "pimrl" and bool(config.model.get("message_passing", True))

    def init(key, u_sample):
        key_micro, key_macro = jax.random.split(key)
        u = _f32(u_sample)
        return {
            "micro": micro.init(key_micro, u)["params"],
            "macro": macro.init(key_macro, u, None)["params"],
        }

    def rollout(params, u0, n_steps):
        num_cycles = math.ceil(n_steps / N)
        frames = cycle.pimrl_rollout(
            micro_apply, macro_apply, params, _f32(u0), num_cycles, k, N, message_passing, remat
        )
        return frames[:, :n_steps]

    def micro_alone(params, u0, n_steps):
        return cycle.strided_micro_rollout(
            micro_apply, params["micro"], _f32(u0), n_steps, k, micro_remat
        )

    return Model(name, init, rollout, micro_rollout, PARAMS_FROM.get(name, name), micro_alone)


def _reference_model(name: str, config: ml_collections.ConfigDict) -> Model:
    """`persistence` or `oracle`: no parameters (`init` returns `{}`), nothing to train."""

    def init(key, u_sample):
        del key, u_sample
        return {}

    if name == "persistence":

        def rollout(params, u0, n_steps):
            u0 = _f32(u0)
            return jnp.broadcast_to(u0[:, None], (u0.shape[0], n_steps, *u0.shape[1:]))

        return Model(name, init, rollout, None, name)

    from solvers import finite_difference, systems

    if config.data.system not in systems.SYSTEMS:
        raise ValueError(
            f"oracle needs the PDE of the data, and this dataset's system is "
            f"{config.data.system!r} (imported without naming it); leave oracle out, or re-import "
            "with python -m solvers.ingest --system <pde> --coefficients ... (docs/own-data.md)"
        )
    step = finite_difference.micro_form_step_of(config.data)
    k = int(config.data.k)

    def micro_rollout(params, u0, n_micro):
        return cycle.micro_rollout(lambda p, u: step(u), params, _f32(u0), n_micro, False)

    def rollout(params, u0, n_steps):
        return cycle.strided_micro_rollout(lambda p, u: step(u), params, _f32(u0), n_steps, k)

    return Model(name, init, rollout, micro_rollout, name)
