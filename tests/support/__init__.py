"""What the tests share: audio measurements, running the worker, moto servers, hostile files."""
