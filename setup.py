"""Package list: screens/ and scenarios/ sit at the top of the repo, so the split between UI,
data and core shows, but they install inside the package as dockerscope.screens and
dockerscope.course, keeping site-packages to one name. pyproject.toml holds everything else."""

from setuptools import find_packages, setup

packages = find_packages(include=["dockerscope", "dockerscope.*"])
packages += ["dockerscope.screens"] + [f"dockerscope.screens.{p}" for p in find_packages("screens")]
packages += ["dockerscope.course"]

setup(
    packages=packages,
    package_dir={"dockerscope.screens": "screens", "dockerscope.course": "scenarios"},
)
