"""The example projects ship in the wheel: a non-editable install (no checkout next to
it) creates template projects from them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.readme.runners import ROOT, fresh_checkout

CHECK = """
import sys
from pathlib import Path
import featurestore, featurestore.demo, featurestore.templates as templates
target = Path(sys.argv[1])
assert Path(featurestore.__file__).is_relative_to(target), featurestore.__file__
assert templates.examples_dir().is_relative_to(target), templates.examples_dir()
assert featurestore.demo.examples_dir() == templates.examples_dir()
for name in sorted(templates.TEMPLATES):
    written = templates.create_from_template(name, Path(name), project=name)
    print(name, *sorted(p.name for p in written))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_ships_the_examples(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    checkout = fresh_checkout(tmp_path / "checkout")  # builds leave build/ in the tree
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(checkout), "--no-deps", "-q", "-w", str(wheels)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("featurestore-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    for example in ("driver_stats", "fraud"):
        shipped = {p.name for p in (target / "featurestore" / "examples" / example).iterdir()}
        source = {p.name for p in (checkout / "examples" / example).iterdir()}
        assert source <= shipped, example
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(target)],
        cwd=work,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "driver_stats README.md definitions.py driver_stats.parquet" in result.stdout
    assert (work / "fraud" / "transactions.parquet").is_file()
    model = (ROOT / "examples" / "fraud" / "model.py").read_text()
    assert (work / "fraud" / "model.py").read_text() == model
