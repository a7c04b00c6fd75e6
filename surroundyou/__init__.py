"""SurroundYou: turn a song into streaming-rendered "8D audio"."""

__version__ = "0.1.0"
