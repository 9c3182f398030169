"""YAML or a dict -> a validated, fully resolved :class:`~genkit.spec.schema.Spec`.

Safe YAML with line numbers, the schema of the top-level, ``data`` and ``train`` sections,
model presets, and resolution of every component entry against its plugin's typed signature.
Errors name the file, line and key path. The spec is normalised once, here; every later stage
takes a resolved ``Spec``.
"""
