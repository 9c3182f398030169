"""A plugin file that registers a built-in's name without saying override=True."""

import genkit


@genkit.register("prior", "standard_normal")
class ImpostorNormal(genkit.Prior):
    """Claims the built-in standard normal prior's name."""

    def distribution(self):
        raise AssertionError("never built: registering over a built-in is refused")
