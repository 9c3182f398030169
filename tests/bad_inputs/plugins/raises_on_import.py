"""A plugin file that raises while it is imported (line 3)."""

raise RuntimeError("this plugin fails on purpose while it is imported")
