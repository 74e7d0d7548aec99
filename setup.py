from setuptools import find_packages, setup

# data_manifests/ sits at the top of the repository (where people look for it) and installs as
# the package data `dermnet.data_manifests`, so load_dataset() finds it after any kind of install.
setup(
    packages=find_packages(include=["dermnet", "dermnet.*"]) + ["dermnet.data_manifests"],
    package_dir={"dermnet.data_manifests": "data_manifests"},
    package_data={"dermnet.data_manifests": ["*.csv", "README.md"]},
)
