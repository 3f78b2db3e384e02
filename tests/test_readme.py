"""The README's "Use from JAX" example runs as written (so the two never drift)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _use_from_jax_block() -> str:
    text = README.read_text()
    section = text.split("## Use from JAX", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "expected exactly one python block in 'Use from JAX'"
    return blocks[0]


def test_use_from_jax_example_runs_and_prints_the_documented_shapes(capsys):
    code = _use_from_jax_block()
    exec(compile(code, "README.md:Use from JAX", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.split("\n")
    documented = re.findall(r"print\(.*\)\s+# (\(.*?\))", code)
    assert len(documented) == 2 and printed[:2] == documented
