"""Audio files: what a file's bytes say, decoding it to blocks, encoding blocks, tags.

May import: ``surroundyou.dsp`` and the top-level modules.
"""
