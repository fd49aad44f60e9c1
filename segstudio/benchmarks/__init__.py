"""Speed benchmarks behind ``segstudio bench ...``: each returns a JSON-ready dict of medians."""
