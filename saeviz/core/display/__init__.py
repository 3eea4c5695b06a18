"""Qt-free computations for display: projections of the latent space (PCA, LDA, axes,
t-SNE, UMAP, aligned from frame to frame) and mesh normals and per-vertex errors."""
