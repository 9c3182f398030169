"""Built-in datasets: generated on the fly (no download) and file loaders."""
