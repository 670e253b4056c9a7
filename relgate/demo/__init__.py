"""The embedded demo: a small grading service (stdlib only), its smoke scenario and its config.

``python -m relgate.demo.service`` serves the seed runbook's grading API on loopback so that
``relgate demo``, the tests and the benchmarks can run a whole release gate without Docker or
network access. Nothing here is imported by the rest of relgate.
"""
