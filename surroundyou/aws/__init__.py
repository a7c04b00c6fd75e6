"""AWS access: boto3 clients with the worker's timeouts and retries, and S3 objects in and out.

May import: the top-level modules only (no audio and no DSP: it moves bytes).
"""
