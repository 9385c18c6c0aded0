"""What a run is told, checked before Spark starts: the environment's settings (read once, on the
driver, then passed), the run's flags, the data contract (columns and schemas) and the layout of
everything the job writes. The bottom of the package: it imports nothing of the job's above it.
"""
