"""Labeling by hand: paint tools, classes, class distances, projects and label files."""
