"""`fruits run` and `fruits pack` as stages: list -> featurize (in waves, resumable) -> reduce
(scaler + PCA) -> write -> commit, one module per stage, wired by `job.py` under the output's
lock. The driver plans and summarises; every per-image step is a DataFrame operation on the
executors (`featurizer.py` is the function they run).
"""
