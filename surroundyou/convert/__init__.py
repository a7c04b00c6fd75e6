"""One conversion, file to file: the engine's two passes, the loudness sample, scratch
space, the thread pipeline, and the report of what it did.

May import: ``surroundyou.audio``, ``surroundyou.dsp`` and the top-level modules.
"""
