"""The output as a table of runs: which run is current, the commit that makes a run current,
pruning, resuming an unfinished run, and the lock that keeps one writer per output. Built on
`fruits.storage`; where things lie is `fruits.config.layout`.
"""
