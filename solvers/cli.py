"""The front door of every command-line program (``python -m solvers``, ``python -m
pimrl_jax.main``, ``python -m pimrl_jax.compare``): a user's error ends in one line
``error: <what is wrong and how to fix it>`` on stderr and exit status 1, never a Python traceback;
``--debug`` brings the traceback back.

    app.run(cli.guard(main), flags_parser=cli.parse_flags)

``parse_flags`` covers the flags (an unknown flag, a bad value, a missing or failing
``--config`` file, an override of a config field that does not exist); ``guard`` covers what
``main`` raises. Lives in ``solvers`` because both halves use it and ``solvers`` never imports
``pimrl_jax``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from absl import app, flags

_DEBUG = flags.DEFINE_bool("debug", False, "show the Python traceback of an error")

# Errors whose message is already a full sentence for people (they name their fix).
_OWN_MESSAGES = ("DatasetError", "UnstableStepError", "NonFiniteDataError", "UsageError")


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def _debug(argv: Sequence[str]) -> bool:
    return any(arg in ("--debug", "--debug=true", "--debug=True", "--debug=1") for arg in argv)


def _config_arg(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _experiments(directory: str) -> str:
    names = sorted(
        name[:-3]
        for name in os.listdir(directory)
        if name.endswith(".py") and name not in ("common.py", "__init__.py")
    )
    return ", ".join(names)


def _check_config_file(argv: Sequence[str]) -> None:
    """A ``--config`` file that does not exist: say so and list the experiments."""
    value = _config_arg(argv)
    if value is None:
        return
    path = value.split(":", 1)[0]
    if not os.path.isfile(path):
        directory = os.path.dirname(path) or "."
        known = ""
        if os.path.isdir(directory) and any(n.endswith(".py") for n in os.listdir(directory)):
            known = f"; the experiments in {directory}/ are: {_experiments(directory)}"
        fail(
            f"config file {path} (from --config {value}) does not exist{known}. "
            "Use --config experiments/<exp>.py:<profile>."
        )


def _load_config(argv: Sequence[str]):
    value = _config_arg(argv)
    path, _, arg = value.partition(":")
    spec = importlib.util.spec_from_file_location("_cli_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def _unknown_override(argv: Sequence[str]) -> str | None:
    """The message for the first ``--config.a.b=value`` that names no field of the config."""
    try:
        config = _load_config(argv)
    except Exception:
        return None
    for arg in argv:
        if not arg.startswith("--config."):
            continue
        dotted = arg[len("--config.") :].split("=", 1)[0]
        node, seen = config, []
        for part in dotted.split("."):
            keys = list(node.keys()) if hasattr(node, "keys") else []
            if part not in keys:
                where = "the config" if not seen else ".".join(seen)
                valid = ", ".join(sorted(keys)) if keys else "none (it is a value)"
                return (
                    f"{arg}: {where} has no field {part!r}; its fields are: {valid}"
                    if keys
                    else f"{arg}: {where} is a value, it has no field {part!r}"
                )
            node, seen = node[part], [*seen, part]
    return None


def _gist(message: str) -> str:
    """A flag error without the traceback that config_flags embeds in it: its first line and the
    final exception's message."""
    if "Traceback (most recent call last)" not in message:
        return " ".join(line.strip() for line in message.strip().splitlines() if line.strip())
    head = message.strip().splitlines()[0].strip().rstrip(":")
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    last = next(
        (line for line in reversed(lines) if re.match(r"^[\w.]+(Error|Exception)\b", line)),
        lines[-1],
    )
    last = re.sub(r"^[\w.]+(Error|Exception): ", "", last)
    head = re.sub(r": Error whilst parsing config file$", "", head)
    return f"{head}: {last}"


def parse_flags(argv: list[str]) -> list[str]:
    """``flags_parser`` for ``app.run``: parse ``argv`` into absl's FLAGS; a bad flag, value or
    config file ends in ``fail`` (with ``--debug``: the exception propagates)."""
    debug = _debug(argv)
    if not debug:
        _check_config_file(argv)
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        if debug:
            raise
        fail(f"{_gist(str(error))} (see --helpshort)")
    except (AttributeError, KeyError, TypeError, ValueError, OSError) as error:
        if debug:
            raise
        fail(_unknown_override(argv) or _gist(f"{type(error).__name__}: {error}"))


def guard(main: Callable, errors: tuple[type[BaseException], ...] = ()) -> Callable:
    """``main`` for ``app.run`` whose user errors end in ``fail``: ``errors`` and the usual
    ValueError, OSError and RuntimeError families (a library's message is suffixed with a hint
    at ``--debug``). Anything else — a bug — keeps its traceback."""

    def guarded(argv):
        try:
            return main(argv)
        except (*errors, ValueError, OSError, RuntimeError, app.UsageError) as error:
            if _DEBUG.value:
                raise
            message = str(error).strip() or type(error).__name__
            if not isinstance(error, errors) and type(error).__name__ not in _OWN_MESSAGES:
                message += " (rerun with --debug for the traceback)"
            fail(message)

    return guarded
