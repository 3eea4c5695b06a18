"""Guided labeling: candidates ranked by the classifier, the labeling queue, rounds and
classifier metrics."""
