from setuptools import find_packages, setup

# The manifests (dermnet/data/manifests/*.csv) are package data: load_dataset() finds them through
# importlib.resources after any kind of install, and from the source tree.
setup(
    packages=find_packages(include=["dermnet", "dermnet.*"]),
    package_data={"dermnet.data.manifests": ["*.csv", "README.md"]},
)
