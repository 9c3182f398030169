"""A plugin file with a syntax error on line 4 (the corpus imports it with --import)."""


def prior(:
    pass
