"""Benchmarks of the course: training speed and quality of ``vaelib.train.fit`` against a
reference loop, and the course's run-time budget.

Benchmarks are not tests: nothing here is collected by pytest. Run everything with
``python -m benchmarks`` (``--help`` for the parts and sizes; ``--quick`` for a smoke run); it
writes ``benchmarks/REPORT.md``, ``benchmarks/results.json`` and ``benchmarks/throughput.png``.

Modules:
    reference   the baseline a user would otherwise copy (pytorch/examples ``vae/main.py``)
    machine     the machine, its measured fp32 matmul rate, the FLOPs of a training step
    throughput  samples/s of ``fit`` and of the reference, and of each speed-up as a variant
    quality     test-set negative ELBO and IWAE after equal epochs, several seeds
    budget      wall time of every notebook under nbval and of the README test command
    report      REPORT.md, results.json, throughput.png (all written atomically)
"""
