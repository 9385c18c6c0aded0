"""What a person reads after a run: the printed summary of metrics.json, the 2-D PCA picture and
the evaluation (a logistic regression on the features, with its confusion picture).
"""
