"""The manifests of the known datasets (CSV files), installed as package data."""
