"""pip's requirements.txt and conda's environment.yml declare the same packages."""

import re

import yaml

from tests.helpers import ROOT

# PyPI name -> conda-forge name where they differ.
CONDA_NAME = {"dask[dataframe]": "dask"}


def names(lines):
    return {re.split(r"[<>=!~ ]", line.strip(), maxsplit=1)[0].lower() for line in lines}


def test_pip_and_conda_declare_the_same_packages():
    pip = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pip_names = {CONDA_NAME.get(name, name) for name in names(pip)}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_names = names(d for d in env["dependencies"] if isinstance(d, str)) - {"python", "pip"}
    assert pip_names == conda_names
