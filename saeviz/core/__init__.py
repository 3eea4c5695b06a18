"""The Qt-free core of saeviz: data, the SAE method, classification and persistence."""
