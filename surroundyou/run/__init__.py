"""The ways to run a conversion: the command line, local files and folders, the batch pool,
cloud (one S3 object), the queue service and the demo song.

May import: every other layer.
"""
