"""mlbench's built-in model plugins, installed as ``mlbench_plugins``.

Each module registers through the ``mlbench`` entry-point group, exactly as a third-party
plugin does; the core never imports this package.
"""
