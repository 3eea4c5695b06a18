"""Meshes and morphing: the 3D mesh viewport, the morph between classes and decoding any
point of the latent view."""
