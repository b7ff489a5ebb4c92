"""The default number of calibration rounds of ``fit-preset`` (one home for the CLI, the library and
the study's fitted arms; a module of its own so that the CLI parser imports nothing heavy).

10 rounds: calibration keeps the mean of the later half of its rounds' knobs, and on the phantom
bench (``benchmarks/bench_fit_preset.py``, mean AUC over 4 generation seeds) 10 rounds gave
0.766 where 6 gave 0.783.
"""

CALIBRATION_ROUNDS = 10
