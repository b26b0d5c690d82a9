"""The README's Python example runs as printed."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})


def test_readme_quickstart_commands_exist_in_the_makefile():
    makefile = (README.parent / "Makefile").read_text()
    for target in re.findall(r"^make (\w[\w-]*)", README.read_text(), flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    assert "make test" in (README.parent / ".ci" / "run").read_text()
