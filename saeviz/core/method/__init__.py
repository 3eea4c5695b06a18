"""The SAE method (Algorithm 1 of the paper) and what it is measured with: the networks
(``models``), class-distance MDS (``mds``) and its presets and preview layout of the class
targets (``class_layout``), the orthogonal alignment of targets (``align``),
the per-epoch structural targets (``structure``), the training loop and its loss
(``training``), the latent classifier and its calibration (``classify``, ``calibration``),
guided-labeling ranking (``ranking``), morphing along class-centre vectors (``morph``),
metrics (``evaluate``) and multi-process training (``distributed``)."""
