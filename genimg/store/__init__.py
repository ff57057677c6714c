"""Files on disk: checkpoints (atomic, safetensors), per-browser workspaces and lesson bundles."""
