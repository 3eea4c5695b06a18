"""Training: data and model settings, the training controls and thread, and the loss plot."""
