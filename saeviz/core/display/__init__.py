"""Qt-free computations for display: projections of the latent space (PCA, LDA, axes,
t-SNE, UMAP, aligned from frame to frame; ``projection``), mesh normals and per-vertex errors
(``mesh_ops``), the styles of latent points and their legend (``point_style``), lasso and
camera geometry (``geometry``), thumbnails of samples (``thumbnails``) and decoding latent
codes into frames of a morph or points of the view (``decoding``)."""
