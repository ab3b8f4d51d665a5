"""The plugin contract: the model base classes, the hook specifications, the registry that
finds plugins through pluggy, and the skeleton writer for new plugins."""
