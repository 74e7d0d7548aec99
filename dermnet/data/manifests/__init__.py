"""The manifests of the known datasets (CSV files), shipped as package data
(`importlib.resources.files("dermnet.data.manifests")`), so they are found from any working directory."""
