"""The latent view (2D and 3D), its panel of projection choices, and the sample inspector."""
