"""Benchmark suite: groxpi against proxpi, devpi and two ceilings, on one machine.

``python -m bench --help`` lists the options; README.md (Benchmarks) explains
the scenarios and how to read ``summary.md``.
"""
