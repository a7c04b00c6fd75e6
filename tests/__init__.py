"""The test suite: one folder per layer of the package, plus whole processes and AWS."""
