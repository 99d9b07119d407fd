"""pip's requirements.txt and conda's environment.yml declare the same packages."""

import re
from pathlib import Path

import yaml

from tests.helpers import ROOT

# PyPI name -> conda-forge name where they differ.
CONDA_NAME = {
    "dask[dataframe]": "dask",
    "moto[server]": "moto",
    # conda-forge's name for the server with its local backend (dask-gateway's install docs).
    "dask-gateway-server[local]": "dask-gateway-server-local",
}


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


# --------------------------------------------------------------------------- per-rule environments

ENVS = ROOT / "workflow" / "envs"
# Import name -> package name, where they differ.
PACKAGE_OF = {
    "yaml": "pyyaml",
    "PIL": "pillow",
    "dask_jobqueue": "dask-jobqueue",
    "dask_gateway": "dask-gateway",
}
# Imported, but installed with the package on the right (its own dependency).
COMES_WITH = {
    "cloudpickle": "distributed",
    "toolz": "dask",
    "tlz": "dask",
    "psutil": "distributed",
    "tornado": "distributed",
    "mpl_toolkits": "matplotlib",
    "botocore": "boto3",
    "aiohttp": "dask-gateway",
}


def env_packages(path):
    env = yaml.safe_load(path.read_text())
    return names(d for d in env["dependencies"] if isinstance(d, str)) - {"python", "pip"}


def rule_envs_and_scripts():
    """(rule file, conda env path, script path) for every rule block with both, from the .smk text."""
    found = []
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        conda = script = None
        lines = smk.read_text().splitlines()
        for number, line in enumerate(lines):
            stripped = line.strip()
            if re.match(r"(use )?rule\b", stripped):
                conda = script = None
            if stripped in ("conda:", "script:"):
                value = lines[number + 1].strip().strip('"')
                if stripped == "conda:":
                    conda = value
                else:
                    script = value
                if conda and script:
                    # ENV (common.smk): the whole environment.yml, for run_info's version list.
                    env = ROOT / "environment.yml" if conda == "ENV" else (smk.parent / conda).resolve()
                    found.append((smk.name, env, (smk.parent / script).resolve()))
                    conda = script = None
    return found


def third_party_imports(script, seen=None):
    """Top-level names of the non-stdlib modules ``script`` imports, through snakedask's modules too."""
    import ast
    import sys

    seen = set() if seen is None else seen
    if script in seen:
        return set()
    seen.add(script)
    found = set()
    for node in ast.walk(ast.parse(script.read_text())):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for module in modules:
            top = module.split(".")[0]
            if top == "snakedask":
                path = ROOT / "scripts" / Path(*module.split("."))
                for candidate in (path.with_suffix(".py"), path / "__init__.py"):
                    if candidate.is_file():
                        found |= third_party_imports(candidate, seen)
            elif top not in sys.stdlib_module_names:
                found.add(top)
    return found


def test_each_rule_environment_is_small_and_from_requirements():
    pip = {
        CONDA_NAME.get(name, name)
        for name in names(
            line
            for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        )
    }
    for path in sorted(ENVS.glob("*.yaml")):
        packages = env_packages(path)
        assert packages <= pip, f"{path.name}: not in requirements.txt: {packages - pip}"
        assert not packages & {"pytest", "snakemake", "ruff", "snakefmt"}, path.name


def test_each_rule_environment_has_what_its_script_imports():
    pairs = rule_envs_and_scripts()
    assert len(pairs) >= 7, pairs  # every rule but the `use rule` copies
    for smk, env, script in pairs:
        packages = env_packages(env)
        needed = {PACKAGE_OF.get(name, name).lower() for name in third_party_imports(script)}
        missing = {name for name in needed if name not in packages and COMES_WITH.get(name) not in packages}
        assert not missing, f"{smk}: {script.name} imports {sorted(missing)}, which {env.name} lacks"
    # Plotting does not need Dask.
    assert not env_packages(ENVS / "plots.yaml") & {"dask", "distributed"}
