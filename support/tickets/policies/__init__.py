"""Municipality complaint policies as YAML data, one file per municipality id."""
